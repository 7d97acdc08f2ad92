// args.cpp -- argument checks and tensor views shared by the collectives.
#include "args.hpp"

#include <climits>

#include "plugin.hpp"

namespace dlcoll_torch {

void bad_argument(const char* op, const std::string& why) {
  throw Error(DLCOLL_ERR_INVALID_ARGUMENT, std::string("dlcoll: ") + op + ": " + why);
}

std::string shape_string(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); i++) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

void check_like(const char* op, const at::Tensor& input, const at::Tensor& output, size_t index) {
  if (output.scalar_type() != input.scalar_type())
    bad_argument(op, "output tensor " + std::to_string(index) + " has dtype " +
                         c10::toString(output.scalar_type()) + ", the input has " +
                         c10::toString(input.scalar_type()));
  if (!output.sizes().equals(input.sizes()))
    bad_argument(op, "output tensor " + std::to_string(index) + " has shape " +
                         shape_string(output.sizes()) + ", the input has " +
                         shape_string(input.sizes()));
}

TensorView* add_view(DlcollWork& work, const at::Tensor& t, const char* op, const char* role) {
  work.views.push_back(std::make_unique<TensorView>());
  make_view(t, op, role, *work.views.back());
  return work.views.back().get();
}

int op_timeout_ms(std::chrono::milliseconds timeout) {
  const auto ms = timeout.count();
  if (ms <= 0) return 0;  // c10d's kUnsetTimeout (-1) or no timeout given
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace dlcoll_torch
