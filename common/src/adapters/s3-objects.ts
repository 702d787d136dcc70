import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { contentDisposition } from "../attachments";
import { ConfigError, type Config } from "../config";
import type { Logger } from "../log";
import type { ObjectInfo, ObjectStore, PresignedPut } from "../ports";

type S3Config = NonNullable<Config["s3"]>;

/**
 * The display name lives in a small sidecar object written by the server, so that a presigned PUT
 * needs no header but Content-Type (PROTOCOL §5). Attachment keys are hex, so no key ends like this.
 */
const metaKey = (key: string) => `${key}.meta.json`;

/**
 * Attachments in S3 (or MinIO, versitygw, ...). Presigned PUTs sign `content-type` and
 * `content-length`, so S3 itself refuses a body of another size or type, and need no other header;
 * presigned GETs name the file through `response-content-disposition`.
 */
export class S3ObjectStore implements ObjectStore {
  private constructor(
    private readonly client: S3Client,
    /** Signs URLs for the endpoint clients use; presigning does no I/O, so that host need not be reachable from here. */
    private readonly presigner: S3Client,
    private readonly bucket: string,
  ) {}

  /** Credentials come from the configuration only, never from the SDK's ambient provider chain. */
  static async connect(config: S3Config, logger: Logger): Promise<S3ObjectStore> {
    const { accessKeyId, secretAccessKey } = config;
    if (!accessKeyId || !secretAccessKey) throw new ConfigError("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set when S3_ENDPOINT is set");
    const options = (endpoint: string): S3ClientConfig => ({
      endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      credentials: { accessKeyId, secretAccessKey },
      // Default checksums would put a CRC of the empty body into presigned PUT URLs.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 3,
    });
    const client = new S3Client(options(config.endpoint));
    const presigner = config.publicEndpoint === config.endpoint ? client : new S3Client(options(config.publicEndpoint));
    const store = new S3ObjectStore(client, presigner, config.bucket);
    try {
      await store.ensureBucket(logger);
    } catch (err) {
      client.destroy();
      presigner.destroy();
      throw err;
    }
    return store;
  }

  private async ensureBucket(logger: Logger): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (status(err) !== 404) throw err;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
      logger.info("created bucket", { bucket: this.bucket });
    } catch (err) {
      // Another process created it first.
      if ((err as { name?: string }).name !== "BucketAlreadyOwnedByYou" && status(err) !== 409) throw err;
    }
  }

  async presignPut(key: string, o: { contentType: string; size: number; expiresIn: number; filename?: string }): Promise<PresignedPut> {
    if (o.filename)
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: metaKey(key), ContentType: "application/json", Body: JSON.stringify({ filename: o.filename }) }),
      );
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: o.contentType, ContentLength: o.size });
    const expiresAt = new Date(Date.now() + o.expiresIn * 1000);
    const url = await getSignedUrl(this.presigner, command, { expiresIn: o.expiresIn, signableHeaders: new Set(["content-type", "content-length"]) });
    return { url, headers: { "content-type": o.contentType }, expiresAt };
  }

  async presignGet(key: string, o: { expiresIn: number; filename?: string }): Promise<string> {
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: key, ResponseContentDisposition: contentDisposition(o.filename) });
    return getSignedUrl(this.presigner, command, { expiresIn: o.expiresIn });
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const info: ObjectInfo = { size: head.ContentLength ?? 0, contentType: head.ContentType ?? "application/octet-stream" };
      const filename = await this.filenameOf(key);
      if (filename) info.filename = filename;
      return info;
    } catch (err) {
      if (status(err) === 404) return null;
      throw err;
    }
  }

  private async filenameOf(key: string): Promise<string | undefined> {
    try {
      const meta = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: metaKey(key) }));
      const parsed = JSON.parse((await meta.Body?.transformToString()) ?? "{}") as { filename?: unknown };
      return typeof parsed.filename === "string" ? parsed.filename : undefined;
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  async close(): Promise<void> {
    this.client.destroy();
    if (this.presigner !== this.client) this.presigner.destroy();
  }
}

function status(err: unknown): number | undefined {
  if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode;
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}
