#pragma once
// Names of the metrics the decode loop pushes into the MetricRegistry (histograms in milliseconds or
// tokens per second), shared by the engine, the charts and the run store's summaries.

namespace lathe::metric {

inline constexpr const char* kTtftMs = "ttft_ms"; // time to first token
inline constexpr const char* kItlMs = "itl_ms";   // inter-token latency
inline constexpr const char* kDecodeTokensPerS = "decode_tokens_per_s";
inline constexpr const char* kPromptTokensPerS = "prompt_tokens_per_s";

// Written by the TelemetrySampler (series and gauges).
inline constexpr const char* kProcessCpuPercent = "process.cpu_percent"; // 100 = one core busy
inline constexpr const char* kProcessRssBytes = "process.rss_bytes";

} // namespace lathe::metric
