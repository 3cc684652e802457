/** Vitest global setup for vitest.pg.config.ts: one throwaway PostgreSQL cluster for the run. */
import { startPgCluster, type PgCluster } from './pg-cluster';

let cluster: PgCluster | null = null;

export async function setup(): Promise<void> {
  cluster = await startPgCluster();
  process.env.KENSA_TEST_PG = cluster.url();
  console.log(`PostgreSQL test cluster on 127.0.0.1:${cluster.port} (${cluster.dir})`);
}

export function teardown(): void {
  cluster?.stop();
}
