// A paced Session's lateness per frame and over sessions (client.h): the measure of the
// real-time capacity benchmark, apart from the client that gathers it.
#include <algorithm>

#include "client/client.h"
#include "client/percentile.h"
#include "core/timeline.h"

namespace lipsync::client {

double frame_lateness_ms(std::int64_t frame, double arrived_ms, std::span<const double> sent_ms,
                         std::size_t chunk_samples) {
  if (sent_ms.size() < 2 || chunk_samples == 0) return 0;
  const auto sample = static_cast<std::size_t>(std::max<std::int64_t>(0, frame)) *
                      static_cast<std::size_t>(timeline::kSamplesPerFrame);
  const std::size_t m = std::min(1 + sample / chunk_samples, sent_ms.size() - 1);
  return arrived_ms - sent_ms[m] - kModelLookaheadMs;
}

void summarize_lateness(const std::vector<std::vector<double>>& sessions, ClientReport& report) {
  std::vector<double> all;
  for (const auto& session : sessions) {
    if (session.empty()) continue;
    all.insert(all.end(), session.begin(), session.end());
    if (percentile(session, 99) <= kKeptPaceLatenessMs) ++report.sessions_kept_pace;
  }
  report.lateness_frames = static_cast<std::int64_t>(all.size());
  report.lateness_p50_ms = percentile(all, 50);
  report.lateness_p95_ms = percentile(all, 95);
  report.lateness_p99_ms = percentile(all, 99);
  report.lateness_max_ms = percentile(all, 100);
}

}  // namespace lipsync::client
