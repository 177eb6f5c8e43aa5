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
// so a reader knows where the payload starts.
import { CODES, GeneveError } from '../errors';

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

  /** Writes the fixed header at `b[at, at + 8)`. */
  encode(b: Uint8Array, at = 0): void {
    if (at < 0 || b.length - at < GENEVE_FIXED_HEADER_LENGTH) {
      throw new GeneveError(CODES.geneveShortBuffer, `Geneve header needs ${GENEVE_FIXED_HEADER_LENGTH} bytes at offset ${at}, buffer has ${b.length}`);
    }
    if (this.vni === undefined) throw new GeneveError(CODES.geneveVniUnset, 'Geneve VNI is not set');
    if (!Number.isInteger(this.version) || this.version < 0 || this.version > MAX_VERSION) {
      throw new GeneveError(CODES.geneveBadVersion, `Geneve version must be 0..${MAX_VERSION}, got ${this.version}`);
    }
    b[at] = this.version << 6;
    b[at + 1] = this.control ? 0x80 : 0;
    b[at + 2] = this.protocol >> 8;
    b[at + 3] = this.protocol & 0xff;
    b[at + 4] = this.vni >> 16;
    b[at + 5] = (this.vni >> 8) & 0xff;
    b[at + 6] = this.vni & 0xff;
    b[at + 7] = 0;
  }

  /** Reads a fixed header from `b[at, at + 8)`. */
  static decode(b: Uint8Array, at = 0): GeneveHeader {
    if (at < 0 || b.length - at < GENEVE_FIXED_HEADER_LENGTH) {
      throw new GeneveError(CODES.geneveShortBuffer, `Geneve header needs ${GENEVE_FIXED_HEADER_LENGTH} bytes at offset ${at}, buffer has ${b.length}`);
    }
    const h = new GeneveHeader({
      version: b[at] >> 6,
      control: (b[at + 1] & 0x80) !== 0,
      protocol: (b[at + 2] << 8) | b[at + 3],
      vni: (b[at + 4] << 16) | (b[at + 5] << 8) | b[at + 6],
    });
    h.optionsLength = (b[at] & 0x3f) * 4;
    return h;
  }
}
