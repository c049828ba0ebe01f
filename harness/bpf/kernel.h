/* The few kernel types drops.bpf.c reads, declared by hand instead of a generated
 * vmlinux.h (megabytes): only the fields used, by name. `preserve_access_index` makes
 * clang record every access as a CO-RE relocation, which the loader resolves against
 * the running kernel's BTF, so offsets here do not matter and no kernel headers are
 * needed to build. */
#ifndef NETRIG_KERNEL_H
#define NETRIG_KERNEL_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct ns_common {
    unsigned int inum;
};

struct net {
    struct ns_common ns;
};

typedef struct {
    struct net *net;
} possible_net_t;

struct net_device {
    char name[16];
    int ifindex;
    possible_net_t nd_net;
};

struct sock_common {
    possible_net_t skc_net;
};

struct sock {
    struct sock_common __sk_common;
};

typedef struct {
    int counter;
} atomic_t;

struct skb_shared_info {
    atomic_t dataref;
};

struct sk_buff {
    struct net_device *dev;
    struct sock *sk;
    unsigned int len;
    __u8 cloned : 1;
    __u16 protocol;
    __u16 network_header;
    __u32 tail;
    __u32 end;
    unsigned char *head;
};

#pragma clang attribute pop

#endif
