/* netrig's drop tracer: every packet the kernel frees as dropped (the kfree_skb
 * tracepoint, attached as a raw tracepoint: no tracefs needed) in one of the watched
 * network namespaces becomes an event on a ring buffer, with the namespace, the
 * interface, the drop reason, the dropping function's address and the packet from its
 * network header. The namespaces are those of one scenario run (the NETNS map, filled
 * by user space), so concurrent runs never see each other's drops.
 *
 * Built with `clang -target bpf -g -O2` and no other headers: see kernel.h. */
#include "kernel.h"

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name

#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_RINGBUF 27

/* Helper functions by their stable ids (include/uapi/linux/bpf.h). */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;

/* Reads a kernel field (through a CO-RE relocation) into `dst`. */
#define READ(dst, src) bpf_probe_read_kernel(&(dst), sizeof(dst), __builtin_preserve_access_index(&(src)))

/* Bytes of the packet kept from its network header: IP and transport headers. */
#define HEADER_BYTES 128

/* Must match `Event` in harness/src/observe/drops.rs. */
struct event {
    __u64 location;
    __u32 netns;
    __u32 ifindex;
    __u32 reason;
    __u32 len;
    __u16 protocol;
    __u8 cloned;
    __u8 header_len;
    char ifname[16];
    __u32 dataref;
    __u8 header[HEADER_BYTES];
};

/* Namespace inode -> 1 for each namespace of the run. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, __u32);
} NETNS SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);
} EVENTS SEC(".maps");

/* Events that found the ring full: user space must not take silence for no drops. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} LOST SEC(".maps");

/* `reason` of the events of net_dev_queue: a copy of a packet (a clone) leaving by a device. */
#define TRANSMITTED_COPY 0xffffffffU

/* The namespace inode of skb's device, or else of its socket (0: unknown). */
static __attribute__((always_inline)) __u32 netns_of(struct sk_buff *skb, struct net_device **dev) {
    struct sock *sk = 0;
    struct net *net = 0;
    __u32 netns = 0;
    READ(*dev, skb->dev);
    if (*dev) {
        READ(net, (*dev)->nd_net.net);
    } else {
        READ(sk, skb->sk);
        if (!sk)
            return 0;
        READ(net, sk->__sk_common.skc_net.net);
    }
    if (!net)
        return 0;
    READ(netns, net->ns.inum);
    return netns;
}

/* skb->cloned, a bitfield: its byte is read, then shifted as libbpf's
 * BPF_CORE_READ_BITFIELD_PROBED does, with relocated offset and shifts. */
static __attribute__((always_inline)) __u8 cloned_of(struct sk_buff *skb) {
    __u64 bits = 0;
    unsigned int offset = __builtin_preserve_field_info(skb->cloned, 0 /* BYTE_OFFSET */);
    unsigned int size = __builtin_preserve_field_info(skb->cloned, 1 /* BYTE_SIZE */);
    if (size > sizeof(bits))
        size = sizeof(bits);
    bpf_probe_read_kernel(&bits, size, (void *)skb + offset);
    bits <<= __builtin_preserve_field_info(skb->cloned, 4 /* LSHIFT_U64 */);
    bits >>= __builtin_preserve_field_info(skb->cloned, 5 /* RSHIFT_U64 */);
    return bits;
}

/* Puts an event about skb on the ring (or counts it lost). */
static __attribute__((always_inline)) void record(struct sk_buff *skb, struct net_device *dev, __u32 netns, __u32 reason, __u64 location,
                   __u8 cloned) {
    struct event *ev = bpf_ringbuf_reserve(&EVENTS, sizeof(struct event), 0);
    if (!ev) {
        __u32 zero = 0;
        __u64 *lost = bpf_map_lookup_elem(&LOST, &zero);
        if (lost)
            __sync_fetch_and_add(lost, 1);
        return;
    }
    ev->location = location;
    ev->netns = netns;
    ev->reason = reason;
    ev->ifindex = 0;
    ev->ifname[0] = 0;
    if (dev) {
        READ(ev->ifindex, dev->ifindex);
        READ(ev->ifname, dev->name);
    }
    READ(ev->len, skb->len);
    READ(ev->protocol, skb->protocol);
    ev->cloned = cloned;

    unsigned char *head = 0;
    __u16 network = 0;
    __u32 tail = 0, end = 0;
    READ(head, skb->head);
    READ(network, skb->network_header);
    READ(tail, skb->tail);
    READ(end, skb->end);
    /* References to the packet's data (clones share it): 1 when no other copy lives. */
    struct skb_shared_info *shinfo = (struct skb_shared_info *)(head + end);
    int dataref = 0;
    READ(dataref, shinfo->dataref.counter);
    ev->dataref = dataref & 0xffff;
    ev->header_len = 0;
    if (network != (__u16)~0U && tail > network) {
        __u32 n = tail - network;
        if (n > HEADER_BYTES)
            n = HEADER_BYTES;
        if (bpf_probe_read_kernel(ev->header, HEADER_BYTES, head + network) == 0)
            ev->header_len = n;
    }
    bpf_ringbuf_submit(ev, 0);
}

/* raw_tp/kfree_skb: args are (skb, location, reason, rx_sk). */
SEC("raw_tp/kfree_skb")
int kfree_skb(__u64 *ctx) {
    struct sk_buff *skb = (struct sk_buff *)ctx[0];
    struct net_device *dev = 0;
    __u32 netns = netns_of(skb, &dev);
    if (!netns || !bpf_map_lookup_elem(&NETNS, &netns))
        return 0;
    record(skb, dev, netns, (__u32)ctx[2], ctx[1], cloned_of(skb));
    return 0;
}

/* raw_tp/net_dev_queue: args are (skb). Only copies are recorded: a packet sent out
 * of one node by several devices was flooded, and a drop of one copy is not final. */
SEC("raw_tp/net_dev_queue")
int net_dev_queue(__u64 *ctx) {
    struct sk_buff *skb = (struct sk_buff *)ctx[0];
    if (!cloned_of(skb))
        return 0;
    struct net_device *dev = 0;
    __u32 netns = netns_of(skb, &dev);
    if (!netns || !bpf_map_lookup_elem(&NETNS, &netns))
        return 0;
    record(skb, dev, netns, TRANSMITTED_COPY, 0, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
