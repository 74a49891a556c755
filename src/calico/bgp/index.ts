/**
 * `calico/bgp`: the BIRD-like BGP speaker of Calico's BGP dataplane (issue 7).
 * See speaker.ts (RIB, export, kernel routes), session.ts (the FSM over the
 * emulated TCP) and cluster.ts (full mesh, route reflectors, convergence).
 *
 * @module
 */
export * from './session.js';
export * from './speaker.js';
export * from './cluster.js';
