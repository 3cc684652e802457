/** Renderer entry: applies the theme (before the first paint) and mounts the root component. */
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import './state/theme.svelte';

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

export default mount(App, { target });
