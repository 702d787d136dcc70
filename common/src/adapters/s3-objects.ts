import type { ObjectStore } from "../ports";
// Placeholder: implemented in the distributed-mode work.
export const S3ObjectStore = {
  async connect(..._args: unknown[]): Promise<ObjectStore> {
    throw new Error("S3ObjectStore is not implemented yet");
  },
};
