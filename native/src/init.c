// The module: the functions and the constants JavaScript sees.
#include "batchgram.h"

static bool set_int(napi_env env, napi_value obj, const char* name, int64_t v) {
  napi_value n = int_value(env, v);
  return n != NULL && napi_set_named_property(env, obj, name, n) == napi_ok;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"socket", NULL, js_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adopt", NULL, js_adopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketKind", NULL, js_socket_kind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getsockname", NULL, js_getsockname, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getpeername", NULL, js_getpeername, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setsockopt", NULL, js_setsockopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getsockopt", NULL, js_getsockopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setsockoptBytes", NULL, js_setsockopt_bytes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getsockoptBytes", NULL, js_getsockopt_bytes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollStart", NULL, js_poll_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollUpdate", NULL, js_poll_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollRef", NULL, js_poll_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvRing", NULL, js_recv_ring, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvmmsg", NULL, js_recvmmsg, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvErrors", NULL, js_recv_errors, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendRing", NULL, js_send_ring, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendmmsg", NULL, js_sendmmsg, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ringRelease", NULL, js_ring_release, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mapPages", NULL, js_map_pages, NULL, NULL, NULL, napi_enumerable, NULL},
      {"releasePages", NULL, js_release_pages, NULL, NULL, NULL, napi_enumerable, NULL},
      {"copyBlock", NULL, js_copy_block, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attachSteering", NULL, js_attach_steering, NULL, NULL, NULL, napi_enumerable, NULL},
      {"copyBlocks", NULL, js_copy_blocks, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns) != napi_ok) return NULL;
  // The kernel ABI values JavaScript needs, from this machine's headers.
  // src/wire/abi.ts holds the same names with the common Linux values, and
  // the loader uses this addon only where every one is the same.
  static const struct {
    const char* name;
    int64_t value;
  } constants[] = {
      {"AF_INET", AF_INET},
      {"AF_INET6", AF_INET6},
      {"AF_UNIX", AF_UNIX},
      {"SOCK_STREAM", SOCK_STREAM},
      {"SOCK_DGRAM", SOCK_DGRAM},
      {"SOL_SOCKET", SOL_SOCKET},
      {"SOL_UDP", SOL_UDP},
      {"IPPROTO_IP", IPPROTO_IP},
      {"IPPROTO_IPV6", IPPROTO_IPV6},
      {"UDP_SEGMENT", UDP_SEGMENT},
      {"UDP_GRO", UDP_GRO},
      {"SO_RXQ_OVFL", SO_RXQ_OVFL},
      {"SO_RCVBUF", SO_RCVBUF},
      {"SO_SNDBUF", SO_SNDBUF},
      {"SO_RCVBUFFORCE", SO_RCVBUFFORCE},
      {"SO_SNDBUFFORCE", SO_SNDBUFFORCE},
      {"SO_REUSEADDR", SO_REUSEADDR},
      {"SO_REUSEPORT", SO_REUSEPORT},
      {"SO_BROADCAST", SO_BROADCAST},
      {"SO_ERROR", SO_ERROR},
      {"SO_SELECT_ERR_QUEUE", SO_SELECT_ERR_QUEUE},
      {"SO_MEMINFO", SO_MEMINFO},
      {"SO_DETACH_REUSEPORT_BPF", SO_DETACH_REUSEPORT_BPF},
      {"SO_TXTIME", SO_TXTIME},
      {"SCM_TXTIME", SCM_TXTIME},
      {"SOF_TXTIME_REPORT_ERRORS", SOF_TXTIME_REPORT_ERRORS},
      {"CLOCK_MONOTONIC", CLOCK_MONOTONIC},
      {"IP_RECVERR", IP_RECVERR},
      {"IPV6_RECVERR", IPV6_RECVERR},
      {"UV_PRIORITIZED", UV_PRIORITIZED},
      {"EHOSTDOWN", EHOSTDOWN},
      {"ENONET", ENONET},
      {"POLL_HAND_OUT", POLL_HAND_OUT},
      {"IPV6_V6ONLY", IPV6_V6ONLY},
      {"MSG_TRUNC", MSG_TRUNC},
      {"MSG_CTRUNC", MSG_CTRUNC},
      {"IP_TOS", IP_TOS},
      {"SO_MARK", SO_MARK},
      {"IP_MTU_DISCOVER", IP_MTU_DISCOVER},
      {"IP_PMTUDISC_PROBE", IP_PMTUDISC_PROBE},
      {"IPV6_MTU_DISCOVER", IPV6_MTU_DISCOVER},
      {"IPV6_PMTUDISC_PROBE", IPV6_PMTUDISC_PROBE},
      {"IPV6_DONTFRAG", IPV6_DONTFRAG},
      {"SO_BINDTODEVICE", SO_BINDTODEVICE},
      {"IP_RECVTOS", IP_RECVTOS},
      {"IP_PKTINFO", IP_PKTINFO},
      {"IPV6_TCLASS", IPV6_TCLASS},
      {"IPV6_RECVTCLASS", IPV6_RECVTCLASS},
      {"IPV6_PKTINFO", IPV6_PKTINFO},
      {"IPV6_RECVPKTINFO", IPV6_RECVPKTINFO},
      {"IP_FREEBIND", IP_FREEBIND},
      {"IP_TRANSPARENT", IP_TRANSPARENT},
      {"IPV6_FREEBIND", IPV6_FREEBIND},
      {"IPV6_TRANSPARENT", IPV6_TRANSPARENT},
      {"IP_RECVORIGDSTADDR", IP_RECVORIGDSTADDR},
      {"IP_ORIGDSTADDR", IP_ORIGDSTADDR},
      {"IPV6_RECVORIGDSTADDR", IPV6_RECVORIGDSTADDR},
      {"IPV6_ORIGDSTADDR", IPV6_ORIGDSTADDR},
      {"SO_TIMESTAMPNS", SO_TIMESTAMPNS},
      {"SCM_TIMESTAMPNS", SCM_TIMESTAMPNS},
      {"SIZEOF_TIMESPEC", (int64_t)sizeof(struct timespec)},
      {"IP_TTL", IP_TTL},
      {"IP_MULTICAST_TTL", IP_MULTICAST_TTL},
      {"IP_MULTICAST_LOOP", IP_MULTICAST_LOOP},
      {"IP_MULTICAST_IF", IP_MULTICAST_IF},
      {"IP_ADD_MEMBERSHIP", IP_ADD_MEMBERSHIP},
      {"IP_DROP_MEMBERSHIP", IP_DROP_MEMBERSHIP},
      {"IP_ADD_SOURCE_MEMBERSHIP", IP_ADD_SOURCE_MEMBERSHIP},
      {"IP_DROP_SOURCE_MEMBERSHIP", IP_DROP_SOURCE_MEMBERSHIP},
      {"IPV6_UNICAST_HOPS", IPV6_UNICAST_HOPS},
      {"IPV6_MULTICAST_HOPS", IPV6_MULTICAST_HOPS},
      {"IPV6_MULTICAST_LOOP", IPV6_MULTICAST_LOOP},
      {"IPV6_MULTICAST_IF", IPV6_MULTICAST_IF},
      {"IPV6_JOIN_GROUP", IPV6_JOIN_GROUP},
      {"IPV6_LEAVE_GROUP", IPV6_LEAVE_GROUP},
      {"MCAST_JOIN_SOURCE_GROUP", MCAST_JOIN_SOURCE_GROUP},
      {"MCAST_LEAVE_SOURCE_GROUP", MCAST_LEAVE_SOURCE_GROUP},
      {"SIZEOF_GROUP_SOURCE_REQ", (int64_t)sizeof(struct group_source_req)},
      {"CMSG_HEADER_SIZE", (int64_t)sizeof(struct cmsghdr)},
      {"CMSG_ALIGN", (int64_t)sizeof(size_t)},
      {"SOCKADDR_SLOT", SOCKADDR_SLOT},
      {"RECV_META_FIELDS", RECV_META_FIELDS},
      {"SEND_MSG_FIELDS", SEND_MSG_FIELDS},
      {"SEND_IOV_FIELDS", SEND_IOV_FIELDS},
      {"MAX_RING_ENTRIES", MAX_RING_ENTRIES},
      {"MAX_RING_IOVECS", MAX_RING_IOVECS},
      {"MAX_IOV_PER_MSG", MAX_IOV_PER_MSG},
  };
  napi_value c;
  CALL(env, napi_create_object(env, &c));
  bool ok = true;
  for (size_t i = 0; ok && i < sizeof(constants) / sizeof(constants[0]); i++)
    ok = set_int(env, c, constants[i].name, constants[i].value);
  if (!ok || napi_set_named_property(env, exports, "constants", c) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
