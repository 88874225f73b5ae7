#pragma once
// The CUDA backend: every Backend op on one GPU. Weights are uploaded once at prepareWeight (plain
// and Q4_0/Q4_1/Q8_0 formats as stored, other formats expanded to F16 on the host). The Backend
// interface passes activations as host arrays, so each op copies its inputs in and its output back on
// the backend's stream; the KV cache is mirrored block for block in device memory (KvMirror). A
// device-resident activation path, needed for CUDA graphs over whole decode steps, is proposed in
// /tmp/cuda-backend-proposal.md.

#include "backend/Backend.h"

#include <memory>

namespace lathe {

// Throws lathe::Error (Device) when the device does not exist or cannot run this build's kernels.
std::unique_ptr<Backend> makeCudaBackend(int deviceOrdinal);

} // namespace lathe
