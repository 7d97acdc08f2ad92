/*
 * dlcoll_ms_dropin.cc -- dlcoll as MindSpore's own CPU collective library.
 *
 * MindSpore 2.10's CPU runtime, when the process was started by Open MPI's
 * mpirun (common::UseMPI(): OMPI_COMMAND and PMIX_RANK set, MS_ROLE unset),
 * dlopen()s the fixed name "libmpi_collective.so" and calls its C function
 * communication_lib_instance(), which returns a
 * mindspore::device::CollectiveCommunicationLib*.  The same object serves as
 * the "host" and the "device" library; CollectiveManager drives it like this
 * (observed with MindSpore 2.10.0):
 *
 *   Initialize(0, 1)                          host side: the library finds its
 *                                             own rank and size
 *   CreateCommunicationGroup("mccl_world_group", 0..N-1, 0, 0)
 *   AllGatherHostHashName(hash, &hashes)      to number the ranks per host
 *   Initialize(rank, N, local_rank)           device side: the SAME object again
 *   CreateCommunicationGroup(name, ...) x 2   host side, then device side
 *   group->GenerateRootInfo / BroadcastUniqueID   (groups not named "mccl...")
 *   group->Initialize(root_info)              in a helper thread, with a timeout
 *   AllGather(send, recv, count, type, group) from the CPU AllGather kernel
 *
 * This file is built into a library whose SONAME is "libmpi_collective.so".
 * glibc's dlopen() returns an already-loaded object whose SONAME equals the
 * requested name, so loading this library first (LD_PRELOAD, or
 * ctypes.CDLL(path) before mindspore.communication.init()) makes MindSpore
 * use it instead of the wheel's MPI library, without touching the wheel.
 *
 * Everything is forwarded to a dlcoll plugin through its C ABI
 * (abi/dlcoll.h), loaded with abi/dlcoll_loader.h.  AllGather (and the
 * host-name gather MindSpore needs at init), AllReduce and ReduceScatter (sum,
 * max, min, prod, mean) and Broadcast are implemented (the last three need a
 * plugin of ABI 1.1); every other collective logs why and returns false, which
 * MindSpore turns into an error.
 *
 * The class layout comes from MindSpore's own headers, shipped in the wheel,
 * so this file is tied to the exact MindSpore version it is compiled against
 * (the build checks for 2.10.0), and to its C++ ABI (_GLIBCXX_USE_CXX11_ABI=0).
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "include/runtime/hardware_abstract/collective/collective_communication_lib.h"
#include "include/runtime/hardware_abstract/collective/communication_group.h"

#include "abi/dlcoll.h"
#include "abi/dlcoll_loader.h"

#define DROPIN_EXPORT extern "C" __attribute__((visibility("default")))

namespace dlcoll_dropin {

using mindspore::TypeId;
using mindspore::device::CollectiveCommunicationLib;
using mindspore::device::CollectiveOpReduceType;
using mindspore::device::CommunicationGroup;
using mindspore::device::GroupOptions;

/* The world group's name: what mindspore.communication calls the world on
 * CPU (GlobalComm.WORLD_COMM_GROUP after init()), and the only group that
 * MindSpore 2.10's CPU AllGather kernel accepts. */
const char kWorldGroupName[] = "mccl_world_group";

/* ------------------------------------------------------------------ logging */

/* 0 = errors only, 1 = + one line per init/group, 2 = + one line per op.
 * From DLCOLL_DEBUG like the plugin: INFO/2 -> 1, TRACE/3 -> 2. */
static int log_verbosity()
{
    static int level = -1;
    if (level < 0) {
        const char *v = getenv("DLCOLL_DEBUG");
        level = 0;
        if (v && (strcasecmp(v, "INFO") == 0 || strcmp(v, "2") == 0))
            level = 1;
        else if (v && (strcasecmp(v, "TRACE") == 0 || strcmp(v, "3") == 0))
            level = 2;
    }
    return level;
}

static std::atomic<int> g_log_rank{-1};

/* One line on stderr: "[dlcoll-ms-dropin] rank R pid P: <message>". */
static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Before init the rank is Open MPI's (what the plugin will read). */
    int rank = g_log_rank.load();
    const char *env_rank = getenv("OMPI_COMM_WORLD_RANK");
    if (rank < 0 && env_rank && *env_rank)
        rank = atoi(env_rank);
    fprintf(stderr, "[dlcoll-ms-dropin] rank %d pid %d: %s\n", rank, (int)getpid(), msg);
    fflush(stderr);
}

/* ------------------------------------------------------------------ dtypes */

/* MindSpore TypeId -> DLPack dtype; false for types dlcoll cannot move. */
static bool dlpack_dtype(TypeId type, DLDataType *out)
{
    struct entry { TypeId type; uint8_t code; uint8_t bits; };
    static const entry table[] = {
        {mindspore::kNumberTypeBool, DLCOLL_DL_BOOL_CODE, 8},
        {mindspore::kNumberTypeInt8, kDLInt, 8},       {mindspore::kNumberTypeInt16, kDLInt, 16},
        {mindspore::kNumberTypeInt32, kDLInt, 32},     {mindspore::kNumberTypeInt64, kDLInt, 64},
        {mindspore::kNumberTypeUInt8, kDLUInt, 8},     {mindspore::kNumberTypeUInt16, kDLUInt, 16},
        {mindspore::kNumberTypeUInt32, kDLUInt, 32},   {mindspore::kNumberTypeUInt64, kDLUInt, 64},
        {mindspore::kNumberTypeFloat16, kDLFloat, 16}, {mindspore::kNumberTypeFloat32, kDLFloat, 32},
        {mindspore::kNumberTypeFloat64, kDLFloat, 64}, {mindspore::kNumberTypeBFloat16, kDLBfloat, 16},
        {mindspore::kNumberTypeComplex64, kDLComplex, 64},
        {mindspore::kNumberTypeComplex128, kDLComplex, 128},
    };
    for (const entry &e : table) {
        if (e.type == type) {
            out->code = e.code;
            out->bits = e.bits;
            out->lanes = 1;
            return true;
        }
    }
    return false;
}

/* A 1-d contiguous CPU tensor of n elements over data. */
static DLTensor flat_tensor(void *data, DLDataType dtype, int64_t *shape)
{
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device.device_type = kDLCPU;
    t.device.device_id = 0;
    t.ndim = 1;
    t.dtype = dtype;
    t.shape = shape;
    t.strides = NULL;
    t.byte_offset = 0;
    return t;
}

/* ------------------------------------------------------------------ the plugin */

/* Where this library itself lives (for "next to the shim"). */
static std::string own_directory()
{
    Dl_info info;
    if (dladdr(reinterpret_cast<void *>(&own_directory), &info) == 0 || !info.dli_fname)
        return "";
    std::string path = info.dli_fname;
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

static bool file_exists(const std::string &path)
{
    return access(path.c_str(), R_OK) == 0;
}

/* The plugin to load: $DLCOLL_PLUGIN, $DLCOLL_PLUGIN_PATH, libdlcoll.so next to
 * this library, the build tree's lib/libdlcoll.so (this library is built into
 * <build>/python/dlcoll/mindspore/), else "libdlcoll.so" for the linker's
 * search path. */
static std::string plugin_path()
{
    for (const char *var : {"DLCOLL_PLUGIN", "DLCOLL_PLUGIN_PATH"}) {
        const char *v = getenv(var);
        if (v && *v)
            return v;
    }
    std::string dir = own_directory();
    if (!dir.empty()) {
        for (const char *rel : {"/libdlcoll.so", "/../../../lib/libdlcoll.so"}) {
            if (file_exists(dir + rel))
                return dir + rel;
        }
    }
    return "libdlcoll.so";
}

/* ------------------------------------------------------------------ groups */

/*
 * One MindSpore communication group.  The world group uses the world
 * communicator; every other group gets its own dlcoll group, created in
 * Initialize() (MindSpore calls it on every rank that created the group, in
 * a helper thread).  A rank that is not a member has no communicator.
 */
class DlcollGroup : public CommunicationGroup {
 public:
    DlcollGroup(const std::string &name, const std::vector<uint32_t> &ranks, uint32_t global_rank,
                uint32_t local_group_rank, uint32_t local_group_size,
                const dlcoll_plugin_v1_t *plugin, dlcoll_comm_t world, bool is_world)
        : CommunicationGroup(name, ranks, global_rank, local_group_rank, local_group_size),
          plugin_(plugin), world_(world), is_world_(is_world) {}

    ~DlcollGroup() override { (void)Finalize(); }

    bool Initialize(void *) override
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (initialized_)
            return true;
        if (is_world_) {
            comm_ = world_;
        } else {
            std::vector<int> ranks(group_ranks_.begin(), group_ranks_.end());
            dlcoll_comm_t comm = NULL;
            dlcoll_status_t rc = plugin_->group_create(world_, ranks.data(), (int)ranks.size(),
                                                       name_.c_str(), &comm);
            if (rc != DLCOLL_SUCCESS) {
                log_line("creating group '%s' (%zu ranks) failed (%s): %s", name_.c_str(),
                         ranks.size(), plugin_->status_string(rc), plugin_->last_error(NULL));
                return false;
            }
            comm_ = comm;
        }
        initialized_ = true;
        if (log_verbosity() >= 1)
            log_line("group '%s' ready: %u ranks%s", name_.c_str(), size_,
                     comm_ ? "" : " (this rank is not a member)");
        return true;
    }

    bool Finalize() override
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (comm_ && !is_world_)
            (void)plugin_->group_destroy(comm_);
        comm_ = NULL;
        initialized_ = false;
        return true;
    }

    /* MindSpore insists on non-NULL root information for groups whose name
     * does not start with "mccl"; dlcoll groups need none (they meet through
     * the world's store), so this is a constant token. */
    void *GenerateRootInfo(size_t *root_info_size) override
    {
        *root_info_size = sizeof root_info_;
        return root_info_;
    }

    /* The communicator, or NULL (not initialized / not a member). */
    dlcoll_comm_t comm()
    {
        std::lock_guard<std::mutex> lock(mu_);
        return comm_;
    }

 private:
    std::mutex mu_;
    const dlcoll_plugin_v1_t *plugin_;
    dlcoll_comm_t world_;
    dlcoll_comm_t comm_ = NULL;
    bool is_world_;
    char root_info_[8] = {'d', 'l', 'c', 'o', 'l', 'l', 0, 0};
};

/* ------------------------------------------------------------------ the library */

class DlcollCommLib : public CollectiveCommunicationLib {
 public:
    DlcollCommLib() { global_group_name_ = kWorldGroupName; }

    /* Called twice on the same object (host side, then device side): the
     * first call creates the world communicator, the second only checks. */
    bool Initialize(uint32_t global_rank, uint32_t global_rank_size, uint32_t) override
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (initialized_) {
            if (global_rank != UINT32_MAX && global_rank_size > 1 &&
                (global_rank != global_rank_id_ || global_rank_size != global_rank_size_)) {
                log_line("MindSpore asks for rank %u of %u, but dlcoll's world is rank %u of %u",
                         global_rank, global_rank_size, global_rank_id_, global_rank_size_);
                return false;
            }
            return true;
        }
        if (!plugin_) {
            std::string path = plugin_path();
            if (dlcoll_load(&loader_, path.c_str()) != 0) {
                log_line("cannot load the dlcoll plugin: %s", loader_.error);
                return false;
            }
            plugin_ = loader_.plugin;
        }
        /* Rank, size and rendezvous from the environment (the plugin reads
         * OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE and DLCOLL_INIT_METHOD). */
        dlcoll_config_t cfg = dlcoll_config_init();
        dlcoll_status_t rc = plugin_->init(&cfg, &world_);
        if (rc != DLCOLL_SUCCESS) {
            log_line("dlcoll init failed (%s): %s", plugin_->status_string(rc),
                     plugin_->last_error(NULL));
            world_ = NULL;
            return false;
        }
        int rank = 0, size = 0;
        if (plugin_->comm_rank(world_, &rank) != DLCOLL_SUCCESS ||
            plugin_->comm_size(world_, &size) != DLCOLL_SUCCESS) {
            log_line("dlcoll comm_rank/comm_size failed: %s", plugin_->last_error(world_));
            (void)plugin_->finalize(world_);
            world_ = NULL;
            return false;
        }
        global_rank_id_ = (uint32_t)rank;
        global_rank_size_ = (uint32_t)size;
        const char *local = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
        local_rank_id_ = (local && *local) ? (uint32_t)strtoul(local, NULL, 10) : 0;
        g_log_rank = rank;
        initialized_ = true;
        finalized_ = false;
        if (log_verbosity() >= 1)
            log_line("MindSpore collectives go through dlcoll: world of %d ranks, plugin %s %s (%s)",
                     size, plugin_->name, plugin_->version, loader_.path);
        return true;
    }

    bool Finalize() override
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!initialized_)
            return true;
        for (auto &entry : groups_) {
            if (entry.second)
                (void)entry.second->Finalize();
        }
        groups_.clear();
        if (world_)
            (void)plugin_->finalize(world_);
        world_ = NULL;
        initialized_ = false;
        finalized_ = true;
        return true;
    }

    /* Called once on the host side and once on the device side for every
     * group: the second call finds the group and succeeds. */
    bool CreateCommunicationGroup(const std::string &group_name, const std::vector<uint32_t> &group_ranks,
                                  uint32_t local_group_rank, uint32_t local_group_size,
                                  const GroupOptions &) override
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!initialized_) {
            log_line("CreateCommunicationGroup('%s') before Initialize()", group_name.c_str());
            return false;
        }
        if (groups_.count(group_name) != 0)
            return true;
        if (group_ranks.empty()) {
            log_line("group '%s' has no ranks", group_name.c_str());
            return false;
        }
        std::vector<bool> seen(global_rank_size_, false);
        for (uint32_t r : group_ranks) {
            if (r >= global_rank_size_ || seen[r]) {
                log_line("group '%s': rank %u is %s (world of %u ranks)", group_name.c_str(), r,
                         r >= global_rank_size_ ? "out of range" : "listed twice", global_rank_size_);
                return false;
            }
            seen[r] = true;
        }
        bool is_world = group_name == global_group_name_;
        if (is_world && group_ranks.size() != global_rank_size_) {
            log_line("the world group '%s' must have all %u ranks, got %zu", group_name.c_str(),
                     global_rank_size_, group_ranks.size());
            return false;
        }
        groups_[group_name] = std::make_shared<DlcollGroup>(
            group_name, group_ranks, global_rank_id_, local_group_rank, local_group_size, plugin_,
            world_, is_world);
        return true;
    }

    /* Local; called for the host side and again for the device side. */
    bool DestroyCommunicationGroup(const std::string &group_name) override
    {
        std::shared_ptr<CommunicationGroup> group;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = groups_.find(group_name);
            if (it == groups_.end())
                return true;
            group = it->second;
            groups_.erase(it);
        }
        return group->Finalize();
    }

    /* MindSpore numbers the ranks of each host with this (AssignLocalRank). */
    bool AllGatherHostHashName(size_t host_hash, std::vector<size_t> *host_hashes) override
    {
        if (!initialized_ || !host_hashes) {
            log_line("AllGatherHostHashName before Initialize()");
            return false;
        }
        host_hashes->assign(global_rank_size_, 0);
        uint64_t mine = (uint64_t)host_hash;
        DLDataType u64 = {kDLUInt, 64, 1};
        int64_t in_shape[1] = {1}, out_shape[1] = {(int64_t)global_rank_size_};
        static_assert(sizeof(size_t) == sizeof(uint64_t), "size_t must be 64-bit");
        DLTensor in = flat_tensor(&mine, u64, in_shape);
        DLTensor out = flat_tensor(host_hashes->data(), u64, out_shape);
        dlcoll_status_t rc = plugin_->allgather(world_, &in, &out, NULL);
        if (rc != DLCOLL_SUCCESS) {
            log_line("gathering the host names failed (%s): %s", plugin_->status_string(rc),
                     plugin_->last_error(world_));
            return false;
        }
        return true;
    }

    /* dlcoll groups need no root information: nothing to broadcast. */
    bool BroadcastUniqueID(const std::string &, size_t, void *) override { return true; }

    bool AllGather(const void *send_buff, void *recv_buff, size_t send_count, TypeId data_type,
                   const std::string &group_name, void *) override
    {
        std::shared_ptr<DlcollGroup> group = find_group(group_name);
        if (!group) {
            log_line("AllGather: unknown group '%s'", group_name.c_str());
            return false;
        }
        dlcoll_comm_t comm = group->comm();
        if (!comm) {
            log_line("AllGather: group '%s' is not initialized on this rank (or it is not a member)",
                     group_name.c_str());
            return false;
        }
        DLDataType dtype;
        if (!dlpack_dtype(data_type, &dtype)) {
            log_line("AllGather (group '%s'): MindSpore type id %d is not supported by dlcoll",
                     group_name.c_str(), (int)data_type);
            return false;
        }
        int64_t in_shape[1] = {(int64_t)send_count};
        int64_t out_shape[1] = {(int64_t)send_count * (int64_t)group->group_size()};
        DLTensor in = flat_tensor(const_cast<void *>(send_buff), dtype, in_shape);
        DLTensor out = flat_tensor(recv_buff, dtype, out_shape);
        dlcoll_status_t rc = plugin_->allgather(comm, &in, &out, NULL);
        if (rc != DLCOLL_SUCCESS) {
            log_line("AllGather (group '%s', %zu elements) failed (%s): %s", group_name.c_str(),
                     send_count, plugin_->status_string(rc), plugin_->last_error(comm));
            return false;
        }
        allgather_count_++;
        if (log_verbosity() >= 2)
            log_line("AllGather (group '%s'): %zu elements of type id %d from each of %u ranks",
                     group_name.c_str(), send_count, (int)data_type, group->group_size());
        return true;
    }

    bool AllReduce(const void *send_buff, void *recv_buff, size_t count, TypeId data_type,
                   CollectiveOpReduceType op, const std::string &group_name, void *) override
    {
        Call c;
        if (!begin("AllReduce", group_name, data_type, &c))
            return false;
        dlcoll_reduction_t red;
        if (!reduction_of("AllReduce", group_name, op, &red))
            return false;
        int64_t shape[1] = {(int64_t)count};
        DLTensor in = flat_tensor(const_cast<void *>(send_buff), c.dtype, shape);
        DLTensor out = flat_tensor(recv_buff, c.dtype, shape);
        dlcoll_status_t rc = plugin_->allreduce(c.comm, &in, &out, &red, NULL);
        return finish_call("AllReduce", group_name, count, data_type, c, rc, &reduce_count_);
    }

    /* root is a rank of the group (MindSpore's CPU library maps it with
     * group_to_global_ranks[root] too).  The root's send_buff goes to every
     * rank's recv_buff, the root's included. */
    bool Broadcast(const void *send_buff, void *recv_buff, size_t count, TypeId data_type, uint32_t root,
                   const std::string &group_name, void *) override
    {
        Call c;
        if (!begin("Broadcast", group_name, data_type, &c))
            return false;
        int me = -1;
        (void)plugin_->comm_rank(c.comm, &me);
        if (me == (int)root && send_buff != recv_buff && count > 0)
            memmove(recv_buff, send_buff, count * (size_t)(c.dtype.bits / 8));
        int64_t shape[1] = {(int64_t)count};
        DLTensor t = flat_tensor(recv_buff, c.dtype, shape);
        dlcoll_status_t rc = plugin_->broadcast(c.comm, &t, (int)root, NULL);
        return finish_call("Broadcast", group_name, count, data_type, c, rc, &broadcast_count_);
    }

    /* send_buff holds group_size blocks of recv_count elements; block r is
     * reduced into rank r's recv_buff. */
    bool ReduceScatter(const void *send_buff, void *recv_buff, size_t recv_count, TypeId data_type,
                       CollectiveOpReduceType op, const std::string &group_name, void *) override
    {
        Call c;
        if (!begin("ReduceScatter", group_name, data_type, &c))
            return false;
        dlcoll_reduction_t red;
        if (!reduction_of("ReduceScatter", group_name, op, &red))
            return false;
        int64_t in_shape[1] = {(int64_t)recv_count * (int64_t)c.size};
        int64_t out_shape[1] = {(int64_t)recv_count};
        DLTensor in = flat_tensor(const_cast<void *>(send_buff), c.dtype, in_shape);
        DLTensor out = flat_tensor(recv_buff, c.dtype, out_shape);
        dlcoll_status_t rc = plugin_->reduce_scatter(c.comm, &in, &out, &red, NULL);
        return finish_call("ReduceScatter", group_name, recv_count, data_type, c, rc, &reduce_count_);
    }

    /* Everything else: not implemented by this drop-in. */
    bool Gather(const void *, void *, size_t, TypeId, uint32_t, const std::string &g, void *) override
    {
        return unsupported("Gather", g);
    }
    bool Scatter(const void *, void *, size_t, TypeId, uint32_t, const std::string &g, void *) override
    {
        return unsupported("Scatter", g);
    }
    bool Send(const void *, size_t, TypeId, uint32_t, const std::string &g, void *) override
    {
        return unsupported("Send", g);
    }
    bool Recv(void *, size_t, TypeId, uint32_t, const std::string &g, void *) override
    {
        return unsupported("Recv", g);
    }

    std::string CommName(const std::string &group_name) override { return "dlcoll:" + group_name; }

    uint64_t allgather_count() const { return allgather_count_.load(); }
    uint64_t reduce_count() const { return reduce_count_.load(); }
    uint64_t broadcast_count() const { return broadcast_count_.load(); }

 private:
    std::shared_ptr<DlcollGroup> find_group(const std::string &name)
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = groups_.find(name);
        if (it == groups_.end())
            return nullptr;
        return std::static_pointer_cast<DlcollGroup>(it->second);
    }

    static bool unsupported(const char *op, const std::string &group)
    {
        log_line("%s (group '%s') is not supported by the dlcoll drop-in library (it implements "
                 "AllGather, AllReduce, ReduceScatter and Broadcast); use MindSpore's own backend "
                 "(msrun / mccl) for this collective",
                 op, group.c_str());
        return false;
    }

    /* What one collective call needs: the group's communicator, its size
     * and the DLPack dtype. */
    struct Call {
        dlcoll_comm_t comm = NULL;
        uint32_t size = 0;
        DLDataType dtype = {0, 0, 0};
    };

    /* Find the group's communicator and the dtype, or log why not. */
    bool begin(const char *op, const std::string &group_name, TypeId data_type, Call *c)
    {
        std::shared_ptr<DlcollGroup> group = find_group(group_name);
        if (!group) {
            log_line("%s: unknown group '%s'", op, group_name.c_str());
            return false;
        }
        c->comm = group->comm();
        c->size = group->group_size();
        if (!c->comm) {
            log_line("%s: group '%s' is not initialized on this rank (or it is not a member)", op,
                     group_name.c_str());
            return false;
        }
        if (!DLCOLL_PLUGIN_HAS(plugin_, broadcast)) {
            log_line("%s (group '%s'): the dlcoll plugin %s has ABI %u.%u; %s needs ABI 1.1", op,
                     group_name.c_str(), loader_.path, plugin_->abi_major, plugin_->abi_minor, op);
            return false;
        }
        if (!dlpack_dtype(data_type, &c->dtype)) {
            log_line("%s (group '%s'): MindSpore type id %d is not supported by dlcoll", op,
                     group_name.c_str(), (int)data_type);
            return false;
        }
        return true;
    }

    /* MindSpore's reduce type -> dlcoll's; false (logged) for the ones
     * dlcoll does not have. */
    static bool reduction_of(const char *op, const std::string &group_name, CollectiveOpReduceType type,
                             dlcoll_reduction_t *out)
    {
        switch (type) {
        case mindspore::device::Reduce_Sum: *out = dlcoll_reduction(DLCOLL_RED_SUM); return true;
        case mindspore::device::Reduce_Max: *out = dlcoll_reduction(DLCOLL_RED_MAX); return true;
        case mindspore::device::Reduce_Min: *out = dlcoll_reduction(DLCOLL_RED_MIN); return true;
        case mindspore::device::Reduce_Prod: *out = dlcoll_reduction(DLCOLL_RED_PROD); return true;
        case mindspore::device::Reduce_Mean: *out = dlcoll_reduction(DLCOLL_RED_AVG); return true;
        default:
            log_line("%s (group '%s'): reduce type %d (Sum_Square, ASum or All) is not supported by "
                     "dlcoll (sum, max, min, prod and mean are)",
                     op, group_name.c_str(), (int)type);
            return false;
        }
    }

    /* Log a failed call with the plugin's message, or count a good one. */
    bool finish_call(const char *op, const std::string &group_name, size_t count, TypeId data_type,
                     const Call &c, dlcoll_status_t rc, std::atomic<uint64_t> *counter)
    {
        if (rc != DLCOLL_SUCCESS) {
            log_line("%s (group '%s', %zu elements of type id %d) failed (%s): %s", op, group_name.c_str(),
                     count, (int)data_type, plugin_->status_string(rc), plugin_->last_error(c.comm));
            return false;
        }
        (*counter)++;
        if (log_verbosity() >= 2)
            log_line("%s (group '%s'): %zu elements of type id %d, %u ranks", op, group_name.c_str(), count,
                     (int)data_type, c.size);
        return true;
    }

    std::mutex mu_;
    dlcoll_loader_t loader_ = {};
    const dlcoll_plugin_v1_t *plugin_ = NULL;
    dlcoll_comm_t world_ = NULL;
    std::atomic<uint64_t> allgather_count_{0};
    std::atomic<uint64_t> reduce_count_{0};    /* AllReduce + ReduceScatter */
    std::atomic<uint64_t> broadcast_count_{0};
};

/*
 * When loaded through LD_PRELOAD, take this library out of LD_PRELOAD again.
 * It depends on MindSpore's libraries, which need symbols of the Python
 * interpreter; MindSpore starts helper programs (e.g. `nvcc --version`)
 * that would inherit LD_PRELOAD and die with "undefined symbol:
 * PyInstanceMethod_Type".  Runs once, at load time, before any thread exists.
 */
__attribute__((constructor)) static void drop_self_from_ld_preload()
{
    const char *preload = getenv("LD_PRELOAD");
    Dl_info info;
    if (!preload || !*preload || dladdr(reinterpret_cast<void *>(&drop_self_from_ld_preload), &info) == 0 ||
        !info.dli_fname)
        return;
    char *self = realpath(info.dli_fname, NULL);
    if (!self)
        return;
    std::string kept, list = preload;
    size_t pos = 0;
    while (pos <= list.size()) {
        size_t end = list.find_first_of(": ", pos);
        if (end == std::string::npos)
            end = list.size();
        std::string entry = list.substr(pos, end - pos);
        char *real = entry.empty() ? NULL : realpath(entry.c_str(), NULL);
        bool is_self = real && strcmp(real, self) == 0;
        free(real);
        if (!entry.empty() && !is_self)
            kept += (kept.empty() ? "" : ":") + entry;
        pos = end + 1;
    }
    free(self);
    if (kept.empty())
        unsetenv("LD_PRELOAD");
    else
        setenv("LD_PRELOAD", kept.c_str(), 1);
}

/* Never destroyed: MindSpore may still call it while the process exits. */
static DlcollCommLib *instance()
{
    static DlcollCommLib *lib = new DlcollCommLib();
    return lib;
}

}  // namespace dlcoll_dropin

/* The entry point MindSpore resolves with dlsym(). */
DROPIN_EXPORT mindspore::device::CollectiveCommunicationLib *communication_lib_instance()
{
    return dlcoll_dropin::instance();
}

/* For tests and users: how many AllGathers went through dlcoll in this process. */
DROPIN_EXPORT uint64_t dlcoll_ms_dropin_allgather_count(void)
{
    return dlcoll_dropin::instance()->allgather_count();
}

/* How many AllReduces and ReduceScatters went through dlcoll in this process. */
DROPIN_EXPORT uint64_t dlcoll_ms_dropin_reduce_count(void)
{
    return dlcoll_dropin::instance()->reduce_count();
}

/* How many Broadcasts went through dlcoll in this process. */
DROPIN_EXPORT uint64_t dlcoll_ms_dropin_broadcast_count(void)
{
    return dlcoll_dropin::instance()->broadcast_count();
}
