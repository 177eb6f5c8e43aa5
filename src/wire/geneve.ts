// Geneve (RFC 8926) fixed header, the 8 bytes batchgram can place in front of
// every datagram of a batch. Layout, in network order:
//
//   byte 0   Ver (2 bits) | Opt Len (6 bits, in 4-byte words)
//   byte 1   O (control packet) | C (critical options) | reserved
//   2..3     Protocol Type
//   4..6     Virtual Network Identifier (VNI)
//   byte 7   reserved
//
// We only write headers without options; decoding reports the options length
// so a reader knows where the payload starts, once it has checked that the
// options the header claims lie inside the buffer.
import { CODES, GeneveError, invalidArgType, outOfRange } from '../errors';

export const GENEVE_FIXED_HEADER_LENGTH = 8;
/** Protocol types Tailscale's peer relays carry (from its net/packet). */
export const GENEVE_PROTOCOL_DISCO = 0x7a11;
export const GENEVE_PROTOCOL_WIREGUARD = 0x7a12;

const MAX_VERSION = 3; // two bits
const MAX_VNI = 0xffffff; // 24 bits

export interface GeneveInit {
  version?: number;
  protocol?: number;
  control?: boolean;
  /** Absent means unset: such a header is not written, see BatchSocket.writeBatchTo. */
  vni?: number;
}

export class GeneveHeader {
  version: number;
  protocol: number;
  /** The O bit: the packet carries control traffic of the tunnel itself. */
  control: boolean;
  vni: number | undefined;
  /** Bytes of options after the fixed header (decode only; encode writes none). */
  optionsLength = 0;

  constructor(init: GeneveInit = {}) {
    this.version = init.version ?? 0;
    this.protocol = init.protocol ?? 0;
    this.control = init.control ?? false;
    this.vni = init.vni;
    if (!Number.isInteger(this.protocol) || this.protocol < 0 || this.protocol > 0xffff) {
      throw new RangeError(`Geneve protocol must be a 16-bit integer, got ${this.protocol}`);
    }
    if (this.vni !== undefined && (!Number.isInteger(this.vni) || this.vni < 0 || this.vni > MAX_VNI)) {
      throw new RangeError(`Geneve VNI must be a 24-bit integer, got ${this.vni}`);
    }
  }

  get vniIsSet(): boolean {
    return this.vni !== undefined;
  }

  /** Writes the fixed header at `buffer[offset, offset + 8)`. */
  encode(buffer: Uint8Array, offset = 0): void {
    checkedRoom(buffer, offset);
    if (this.vni === undefined) throw new GeneveError(CODES.geneveVniUnset, 'Geneve VNI is not set');
    if (!Number.isInteger(this.version) || this.version < 0 || this.version > MAX_VERSION) {
      throw new GeneveError(CODES.geneveBadVersion, `Geneve version must be 0..${MAX_VERSION}, got ${this.version}`);
    }
    buffer[offset] = this.version << 6;
    buffer[offset + 1] = this.control ? 0x80 : 0;
    buffer[offset + 2] = this.protocol >> 8;
    buffer[offset + 3] = this.protocol & 0xff;
    buffer[offset + 4] = this.vni >> 16;
    buffer[offset + 5] = (this.vni >> 8) & 0xff;
    buffer[offset + 6] = this.vni & 0xff;
    buffer[offset + 7] = 0;
  }

  /** Reads a fixed header from `buffer[offset, offset + 8)`; the options it counts must follow it in the buffer. */
  static decode(buffer: Uint8Array, offset = 0): GeneveHeader {
    const room = checkedRoom(buffer, offset);
    const optionsLength = (buffer[offset] & 0x3f) * 4;
    if (room - GENEVE_FIXED_HEADER_LENGTH < optionsLength) {
      throw new GeneveError(CODES.geneveShortBuffer,
        `Geneve header at offset ${offset} claims ${optionsLength} bytes of options, buffer has ${room - GENEVE_FIXED_HEADER_LENGTH} after its fixed header`);
    }
    const h = new GeneveHeader({
      version: buffer[offset] >> 6,
      control: (buffer[offset + 1] & 0x80) !== 0,
      protocol: (buffer[offset + 2] << 8) | buffer[offset + 3],
      vni: (buffer[offset + 4] << 16) | (buffer[offset + 5] << 8) | buffer[offset + 6],
    });
    h.optionsLength = optionsLength;
    return h;
  }
}

/**
 * Checks the buffer and offset a caller passed to encode or decode: the
 * offset must be an integer index, as a fraction, NaN or a string would index
 * no byte or the wrong one. Returns the bytes from the offset to the buffer's
 * end, at least the fixed header's 8.
 */
function checkedRoom(buffer: unknown, offset: unknown): number {
  if (!(buffer instanceof Uint8Array)) throw invalidArgType('buffer', 'a Uint8Array', buffer);
  if (typeof offset !== 'number') throw invalidArgType('offset', 'of type number', offset);
  if (!Number.isInteger(offset) || offset < 0) throw outOfRange('offset', 'an integer >= 0', offset);
  const length = buffer.length;
  if (length - offset < GENEVE_FIXED_HEADER_LENGTH) {
    throw new GeneveError(CODES.geneveShortBuffer, `Geneve header needs ${GENEVE_FIXED_HEADER_LENGTH} bytes at offset ${offset}, buffer has ${length}`);
  }
  return length - offset;
}
