import type { ObjectStore } from "../ports";
// Placeholder: implemented with the attachments API.
export class FsObjectStore implements ObjectStore {
  constructor(..._args: unknown[]) {
    throw new Error("FsObjectStore is not implemented yet");
  }
  presignPut(): never {
    throw new Error("unreachable");
  }
  presignGet(): never {
    throw new Error("unreachable");
  }
  async ping() {}
  async close() {}
}
