// The video-classification task: one batch of clips in (NCTHW, the .dat's rank 5), [N, C] logits
// out (Kinetics-400: C = 400). After the model it is classification: the same output check and
// writer (logits and top-k per row), so the two cannot drift apart.
#include <memory>

#include "tvdeploy/task.hpp"

namespace tvdeploy {

const Task& video_task() {
  static const std::unique_ptr<Task> task = make_logits_task(kTaskVideo);
  return *task;
}

}  // namespace tvdeploy
