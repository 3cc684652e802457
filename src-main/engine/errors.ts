/** The engine's errors are the project-wide KensaError (src-main/shared/errors.ts). */
export * from '../shared/errors';
