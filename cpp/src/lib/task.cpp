#include "tvdeploy/task.hpp"

#include "tvdeploy/errors.hpp"

namespace tvdeploy {

const std::vector<const Task*>& all_tasks() {
  static const std::vector<const Task*> tasks = {&classification_task(), &segmentation_task(),
                                                 &detection_task()};
  return tasks;
}

const Task& find_task(const std::string& name) {
  for (const Task* task : all_tasks()) {
    if (task->name() == name) return *task;
  }
  throw UsageError("option --task must be one of " + std::string(kTaskChoices) + ", got '" + name +
                   "'");
}

OptionSpec task_option() {
  return {"task", std::string(kTaskChoices),
          "what the model computes: how many inputs make one call, and what it must return", false,
          std::string(kDefaultTask)};
}

}  // namespace tvdeploy
