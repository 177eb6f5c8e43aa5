// The host's byte order. Kernel structs (sockaddr families and scope ids,
// cmsghdr, the ints in control messages, ip_mreq interface indexes) hold
// their fields in host order; only ports and addresses are in network order.

/** True on little-endian hosts (x86, arm64 as Linux runs them). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
