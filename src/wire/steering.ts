// Steering programs for an SO_REUSEPORT group: classic BPF (struct
// sock_filter: u16 code, u8 jt, u8 jf, u32 k, in host byte order) that the
// kernel runs for each datagram to pick the group's member by index
// (SO_ATTACH_REUSEPORT_CBPF, Linux 4.5). For UDP it runs with the packet's
// data starting at the payload, the UDP header pulled. An index the group
// does not have (a member left since) makes the kernel fall back to its
// 4-tuple hash; a load past the end of a short datagram ends the program
// with 0, the first member.
import { HOST_LITTLE_ENDIAN } from './byteorder';

/** Bytes of one struct sock_filter. */
export const FILTER_SIZE = 8;
/**
 * The most payload bytes a program hashes: 7 instructions for each word of
 * them, 1 798 in all, within BPF_MAXINSNS (4 096), past which the kernel
 * refuses a classic program.
 */
export const STEERING_BYTES_MAX = 1024;

// Opcodes (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS = 0x20, LD_H_ABS = 0x28, LD_B_ABS = 0x30;
const LDX_IMM = 0x01, LDX_MEM = 0x61, ST = 0x02;
const ALU_MUL_K = 0x24, ALU_ADD_X = 0x0c, ALU_MOD_K = 0x94, ALU_RSH_K = 0x74;
const TAX = 0x07, TXA = 0x87, RET_A = 0x16;
/** SKF_AD_OFF + SKF_AD_CPU: a load of this offset gives the CPU that took the packet. */
const LOAD_CPU = 0xfffff000 + 36;
/** A multiplier with well-spread bits (2^32 / golden ratio), for the hash's rounds. */
const MIX = 0x9e3779b1;

function program(insns: Array<[code: number, k: number]>): Uint8Array {
  const out = new Uint8Array(insns.length * FILTER_SIZE);
  const v = new DataView(out.buffer);
  insns.forEach(([code, k], i) => {
    v.setUint16(i * FILTER_SIZE, code, HOST_LITTLE_ENDIAN);
    v.setUint32(i * FILTER_SIZE + 4, k >>> 0, HOST_LITTLE_ENDIAN); // jt, jf stay 0: no jumps
  });
  return out;
}

/** Member = the CPU that took the datagram, modulo the group's size. */
export function cpuSteering(members: number): Uint8Array {
  return program([[LD_W_ABS, LOAD_CPU], [ALU_MOD_K, members], [RET_A, 0]]);
}

/**
 * Member = a hash of payload bytes [offset, offset + length), modulo the
 * group's size: datagrams whose bytes there are equal (a QUIC connection
 * ID) go to one member, whatever their source address. The bytes are read
 * as big-endian words, then a half-word and a byte for the rest; each round
 * is h = h * MIX + chunk, and the end h * MIX >> 16.
 */
export function payloadSteering(offset: number, length: number, members: number): Uint8Array {
  const insns: Array<[number, number]> = [[LDX_IMM, 0]];
  const round = (load: number, at: number) => {
    insns.push([TXA, 0], [ALU_MUL_K, MIX], [ST, 0], [load, at], [LDX_MEM, 0], [ALU_ADD_X, 0], [TAX, 0]);
  };
  let at = offset;
  const end = offset + length;
  for (; at + 4 <= end; at += 4) round(LD_W_ABS, at);
  if (at + 2 <= end) {
    round(LD_H_ABS, at);
    at += 2;
  }
  if (at < end) round(LD_B_ABS, at);
  insns.push([TXA, 0], [ALU_MUL_K, MIX], [ALU_RSH_K, 16], [ALU_MOD_K, members], [RET_A, 0]);
  return program(insns);
}
