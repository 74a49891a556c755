/**
 * The run's one source of randomness: a seeded xoroshiro128+ from pure-rand.
 * Everything "random" in the model (MAC addresses, veth names, ISNs, IP IDs,
 * ephemeral ports, ECMP/VXLAN hashing salts) draws from here, in a fixed order,
 * so the same scenario and seed give byte-identical outputs.
 */
import { xoroshiro128plus, unsafeUniformIntDistribution, type RandomGenerator } from 'pure-rand';

export class Rng {
  private gen: RandomGenerator;
  constructor(readonly seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    return unsafeUniformIntDistribution(0, 0xffffffff, this.gen) >>> 0;
  }
  /** Uniform integer in [from, to] inclusive. */
  int(from: number, to: number): number {
    return unsafeUniformIntDistribution(from, to, this.gen);
  }
  /** n uniform bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }
  /**
   * A locally administered unicast MAC as the kernel's eth_random_addr makes one
   * (random bytes, multicast bit cleared, local bit set).
   */
  mac(): Uint8Array {
    const m = this.bytes(6);
    m[0] = (m[0] & 0xfe) | 0x02;
    return m;
  }
}
