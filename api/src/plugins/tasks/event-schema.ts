import Joi from 'joi';

/** Joi schemas of the A2A 1.0 wire JSON agents append (camelCase, enum names). */
const metadata = Joi.object().unknown(true);

const TASK_STATES = [
  'TASK_STATE_SUBMITTED',
  'TASK_STATE_WORKING',
  'TASK_STATE_COMPLETED',
  'TASK_STATE_FAILED',
  'TASK_STATE_CANCELED',
  'TASK_STATE_INPUT_REQUIRED',
  'TASK_STATE_REJECTED',
  'TASK_STATE_AUTH_REQUIRED',
];

export const partSchema = Joi.object({
  text: Joi.string().allow(''),
  data: Joi.any(),
  url: Joi.string().uri({ scheme: ['http', 'https', 'data'] }),
  raw: Joi.string().base64(),
  metadata,
  filename: Joi.string().allow(''),
  mediaType: Joi.string().allow(''),
})
  .xor('text', 'data', 'url', 'raw')
  .label('Part');

export const messageSchema = Joi.object({
  messageId: Joi.string().min(1).max(200).required(),
  role: Joi.string().valid('ROLE_USER', 'ROLE_AGENT').required(),
  parts: Joi.array().items(partSchema).min(1).required(),
  contextId: Joi.string().allow(''),
  taskId: Joi.string().allow(''),
  metadata,
  extensions: Joi.array().items(Joi.string()),
  referenceTaskIds: Joi.array().items(Joi.string()),
}).label('Message');

const statusSchema = Joi.object({
  state: Joi.string()
    .valid(...TASK_STATES)
    .required(),
  message: messageSchema,
  timestamp: Joi.string().isoDate(),
}).label('TaskStatus');

const artifactSchema = Joi.object({
  artifactId: Joi.string().min(1).max(200).required(),
  name: Joi.string().allow(''),
  description: Joi.string().allow(''),
  parts: Joi.array().items(partSchema).min(1).required(),
  metadata,
  extensions: Joi.array().items(Joi.string()),
}).label('Artifact');

export const streamResponseSchema = Joi.object({
  statusUpdate: Joi.object({
    taskId: Joi.string().allow(''),
    contextId: Joi.string().allow(''),
    status: statusSchema.required(),
    metadata,
  }),
  artifactUpdate: Joi.object({
    taskId: Joi.string().allow(''),
    contextId: Joi.string().allow(''),
    artifact: artifactSchema.required(),
    append: Joi.boolean(),
    lastChunk: Joi.boolean(),
    metadata,
  }),
  message: messageSchema,
})
  .xor('statusUpdate', 'artifactUpdate', 'message')
  .label('StreamResponse');

/**
 * One event, or `{ events: [...] }`. The batch size limit is checked by the handler (413).
 * Chosen by the `events` key, so a 400 names the field that is wrong (not just "no alternative matched").
 */
export const appendPayloadSchema = Joi.alternatives()
  .conditional(Joi.object({ events: Joi.exist() }).unknown(), {
    then: Joi.object({ events: Joi.array().items(streamResponseSchema).min(1).required() }),
    otherwise: streamResponseSchema,
  })
  .label('AppendRequest');
