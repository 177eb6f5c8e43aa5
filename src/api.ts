// batchgram's public API, by name. Everything not exported here is internal.
export { BatchSocket, type AddressInfo, type BatchSocketStats } from './socket/batch-socket';
export type { AdoptOptions, BatchSocketOptions, OffloadOptions, Steering } from './socket/options';
export type { OutgoingMessage, SendOptions, WriteOptions } from './socket/writes';
export { BatchView, type Batch, type Datagram } from './batch';
export type { IcmpError } from './engine/contract';
export type { Capabilities, SocketCapabilities } from './engine/capabilities';
export { IDEAL_BATCH_SIZE } from './kernel/support';
export { bindGroup, SocketGroup, type GroupOptions, type GroupStats, type SocketGroupEvents } from './group/group';
export { groupSocket } from './group/member';
export {
  BatchgramError, CODES, ControlMessageError, GSODisabledError, GeneveError, type ErrorCode, type GeneveErrorCode, type SystemError,
} from './errors';
export {
  GeneveHeader, GENEVE_FIXED_HEADER_LENGTH, GENEVE_PROTOCOL_DISCO, GENEVE_PROTOCOL_WIREGUARD, type GeneveInit,
} from './wire/geneve';
export { MIN_CONTROL_MESSAGE_SIZE } from './wire/cmsg';
export { UDP_MAX_SEGMENTS, MAX_IPV4_PAYLOAD, MAX_IPV6_PAYLOAD, BATCH_SIZE_ENV } from './limits';
export { SENTINEL as NEVER_GSO_EQUAL_TAIL_SENTINEL } from './offload/gso';
export { Counter, getCounter, counters } from './counters';
// The dgram drop-in: `import { createSocket } from 'batchgram'` in place of node:dgram.
export { createSocket, Socket, compatStats, type SocketOptions, type MessageListener, type CompatStats } from './compat/index';
export type { RemoteInfo, SocketType, BindOptions } from 'node:dgram';
