// args.hpp -- argument checks and tensor views shared by the collectives.
#pragma once

#include <string>

#include "work.hpp"

namespace dlcoll_torch {

// Throws Error(INVALID_ARGUMENT, "dlcoll: <op>: <why>").
[[noreturn]] void bad_argument(const char* op, const std::string& why);

// "[2, 3]"
std::string shape_string(at::IntArrayRef sizes);

// output must have input's dtype and shape (the list forms' rule).
void check_like(const char* op, const at::Tensor& input, const at::Tensor& output, size_t index);

// A view of t that work keeps until it completes; role names t in messages.
TensorView* add_view(DlcollWork& work, const at::Tensor& t, const char* op, const char* role);

// The per-operation timeout (c10d opts.timeout) as a wait bound for the
// Progress thread: 0 when unset (the backend's own bound applies).
int op_timeout_ms(std::chrono::milliseconds timeout);

}  // namespace dlcoll_torch
