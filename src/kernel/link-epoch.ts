/**
 * A counter bumped whenever any device goes up or down (NetDevice.up's setter): route
 * lookups skip routes through devices that are down, so Fib's lookup cache is only valid
 * while this is unchanged. Its own module so fib.ts need not import device.ts.
 */
export const linkEpoch = { n: 0 };
