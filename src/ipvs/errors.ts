/** IPVS's error type, apart so every module can throw it without importing the face (index.ts). */
export class IpvsError extends Error {
  constructor(readonly errno: string, message: string) {
    super(message);
    this.name = 'IpvsError';
  }
}
