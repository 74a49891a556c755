/**
 * `wire`: byte-exact packet formats as zero-copy views over `Uint8Array`,
 * plus semantic `Repr` parse/emit at the API edge. See each module's header
 * for the RFC diagram, what is supported, and kernel facts verified by capture.
 *
 * @module
 */
export * from './bytes.js';
export * from './checksum.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './icmp.js';
export * from './udp.js';
export * from './tcp.js';
export * from './summary.js';
export * from './bgp.js';
