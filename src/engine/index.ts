export { Scheduler, type Handler } from './scheduler.js';
export { Rng } from './rng.js';
export { NS, US, MS, S, parseDuration, formatTime } from './time.js';
