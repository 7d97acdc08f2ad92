/*
 * rogue_notice.c -- a stranger to the job: a libfabric program with no
 * dlcoll code that reads a rank's endpoint name from a file store (as any
 * process that can read the store's directory could) and sends it one
 * NOTICE-tagged message of its choosing (issue 15, finding 2), or an
 * oversized one (finding 7).
 *
 * Usage: rogue_notice PROVIDER ADDR_FILE COMM_ID SEQ ORIGIN BYTES
 *   ADDR_FILE  the file store's file of "dlcoll/addr/<rank>"
 *   BYTES      the message size: the size of a notice (a forged one), or more
 * Exits 0 when the send completed or was still pending after 5 s (a provider
 * may never complete a message the receiver has no room for), else 1.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>

/* The wire layout of a notice (docs/abi.md section 12). */
struct forged {
    uint32_t comm_id, seq;
    int32_t origin, status;
    uint32_t kind, flags, at_seq, done_seq;
    uint64_t key[2]; /* the origin's key: a stranger does not know it */
    char message[400];
};

static int die(const char *what, int ret)
{
    fprintf(stderr, "rogue: %s: %s\n", what, fi_strerror(-ret));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: rogue_notice PROVIDER ADDR_FILE COMM_ID SEQ ORIGIN BYTES\n");
        return 2;
    }
    /* The file store's layout: "magic" (4 bytes), the key's length (4, little
     * endian), the key, then the value: a 4-byte length and the name. */
    unsigned char file[2048];
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    size_t got = fread(file, 1, sizeof file, f);
    fclose(f);
    uint32_t klen = got >= 8 ? (uint32_t)file[4] | (uint32_t)file[5] << 8 |
                                   (uint32_t)file[6] << 16 | (uint32_t)file[7] << 24
                             : 0;
    const unsigned char *rec = file + 8 + klen;
    uint32_t alen = 0;
    if (got >= 8 + (size_t)klen + 4)
        memcpy(&alen, rec, 4);
    if (alen == 0 || alen > 256 || 8 + (size_t)klen + 4 + alen > got) {
        fprintf(stderr, "rogue: %s holds no endpoint name\n", argv[2]);
        return 1;
    }
    char name[257];
    memset(name, 0, sizeof name);
    memcpy(name, rec + 4, alen);

    struct fi_info *hints = fi_allocinfo(), *info = NULL;
    hints->caps = FI_TAGGED;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;
    hints->ep_attr->type = FI_EP_RDM;
    hints->domain_attr->av_type = FI_AV_TABLE;
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED;
    hints->fabric_attr->prov_name = strdup(strcmp(argv[1], "tcp") == 0 ? "tcp;ofi_rxm" : argv[1]);
    int ret = fi_getinfo(FI_VERSION(1, 9), NULL, NULL, 0, hints, &info);
    if (ret)
        return die("fi_getinfo", ret);
    struct fid_fabric *fab;
    struct fid_domain *dom;
    struct fid_av *av;
    struct fid_cq *cq;
    struct fid_ep *ep;
    struct fi_av_attr aa = {.type = FI_AV_TABLE};
    struct fi_cq_attr ca = {.format = FI_CQ_FORMAT_TAGGED, .wait_obj = FI_WAIT_NONE};
    if ((ret = fi_fabric(info->fabric_attr, &fab, NULL)) ||
        (ret = fi_domain(fab, info, &dom, NULL)) || (ret = fi_av_open(dom, &aa, &av, NULL)) ||
        (ret = fi_cq_open(dom, &ca, &cq, NULL)) || (ret = fi_endpoint(dom, info, &ep, NULL)) ||
        (ret = fi_ep_bind(ep, &av->fid, 0)) ||
        (ret = fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV)) || (ret = fi_enable(ep)))
        return die("opening an endpoint", ret);
    fi_addr_t to;
    if (fi_av_insert(av, name, 1, &to, 0, NULL) != 1)
        return die("fi_av_insert", -FI_EINVAL);

    size_t bytes = strtoull(argv[6], NULL, 0);
    struct forged *m = calloc(1, bytes > sizeof *m ? bytes : sizeof *m);
    if (!m)
        return 1;
    memset(m, 0x5a, bytes > sizeof *m ? bytes : sizeof *m);
    m->comm_id = (uint32_t)strtoul(argv[3], NULL, 0);
    m->seq = (uint32_t)strtoul(argv[4], NULL, 0);
    m->origin = (int32_t)strtol(argv[5], NULL, 0);
    m->status = -5; /* a valid failure status */
    m->kind = 0;    /* a failure report */
    m->flags = m->at_seq = m->done_seq = 0;
    m->key[0] = m->key[1] = 0;
    snprintf(m->message, sizeof m->message, "forged by a stranger");
    uint64_t tag = ((uint64_t)1 << 58) | ((uint64_t)(m->comm_id & 0x3fffff) << 36) |
                   ((uint64_t)(m->seq & 0xffffff) << 12);
    struct fi_context2 ctx;
    time_t end = time(NULL) + 10;
    while ((ret = (int)fi_tsend(ep, m, bytes, NULL, to, tag, &ctx)) == -FI_EAGAIN) {
        struct fi_cq_tagged_entry e;
        (void)fi_cq_read(cq, &e, 1);
        if (time(NULL) > end)
            return die("fi_tsend", ret);
    }
    if (ret)
        return die("fi_tsend", ret);
    end = time(NULL) + 5;
    for (;;) {
        struct fi_cq_tagged_entry e;
        ssize_t n = fi_cq_read(cq, &e, 1);
        if (n == 1)
            break;
        if (n == -FI_EAVAIL) {
            struct fi_cq_err_entry ee;
            memset(&ee, 0, sizeof ee);
            fi_cq_readerr(cq, &ee, 0);
            fprintf(stderr, "rogue: the send failed: %s\n", fi_strerror(ee.err));
            break; /* refused by the receiver is fine too */
        }
        if (time(NULL) > end) {
            fprintf(stderr, "rogue: the send is still pending\n");
            break;
        }
        usleep(1000);
    }
    printf("rogue: sent %zu bytes to %s\n", bytes, argv[2]);
    fflush(stdout);
    _exit(0); /* without closing: a pending send may hold the endpoint */
}
