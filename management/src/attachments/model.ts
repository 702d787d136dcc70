import { t } from "elysia";
import { ATTACHMENT_TYPES, MIME_PATTERN } from "@chat/common/attachments";
import { rules } from "@chat/common/grammar";
import { ref } from "../envelope";
import { grammar, jsonInteger } from "../grammar";

/** How long a presigned upload URL stays valid. */
export const UPLOAD_URL_SECONDS = 15 * 60;
/** How long the presigned download URL behind a redirect stays valid. */
export const DOWNLOAD_URL_SECONDS = 5 * 60;

export const CreateAttachmentRequest = t.Object(
  {
    type: t.UnionEnum([...ATTACHMENT_TYPES], { description: "image, video and audio need a content_type of that family" }),
    content_type: t.String({ maxLength: 255, pattern: MIME_PATTERN, description: "MIME type/subtype, no parameters" }),
    size: jsonInteger({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "exact byte size; 413 above LIMIT_ATTACHMENT_BYTES" }),
    filename: t.String({ minLength: 1, maxLength: 1024, description: "display name; path parts, control and quote characters are dropped, kept to 200 characters" }),
  },
  { additionalProperties: false },
);

export const Attachment = t.Object(
  {
    attachment_id: t.String({ description: "`<team_id>/<id>`: what a message of this type carries as `data`" }),
    upload_url: t.String({ description: "presigned PUT: the body must be exactly `size` bytes" }),
    upload_headers: t.Record(t.String(), t.String(), { description: "headers the PUT must carry as given (signed)" }),
    expires_at: t.String({ format: "date-time" }),
  },
  { description: "a new attachment and where to upload it" },
);
export const AttachmentResponse = t.Object({ data: ref("Attachment", Attachment) }, { description: "the new attachment and where to upload it" });
export const attachmentComponents = { CreateAttachmentRequest, Attachment, AttachmentResponse };

export const AttachmentParams = t.Object({ team_id: grammar(rules.objectId), id: grammar(rules.objectId) });
