#include "tvdeploy/task.hpp"

#include "tvdeploy/errors.hpp"

namespace tvdeploy {
namespace {

// Between an input's name and the argument's in a file name (tvdeploy.registry.paths).
constexpr std::string_view kInputNameSeparator = ".";

}  // namespace

const std::vector<const Task*>& all_tasks() {
  static const std::vector<const Task*> tasks = {&classification_task(), &segmentation_task(),
                                                 &video_task(), &optical_flow_task(),
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

void check_call_inputs(const Task& task, const std::vector<fs::path>& call) {
  const std::vector<std::string_view> names = task.input_names();
  if (names.empty()) return;
  std::string order;
  for (const std::string_view name : names)
    order += (order.empty() ? "" : ", ") + std::string(name);
  std::string first_input;
  for (std::size_t i = 0; i < call.size(); ++i) {
    const std::string stem = call[i].stem().string();
    const std::string suffix = std::string(kInputNameSeparator) + std::string(names.at(i));
    const bool named = stem.size() > suffix.size() &&
                       stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) == 0;
    const std::string input = named ? stem.substr(0, stem.size() - suffix.size()) : "";
    if (i == 0) first_input = input;
    if (!named || input != first_input) {
      throw UsageError("--task " + std::string(task.name()) + ": input file " + quoted(call[i]) +
                       " is not argument '" + std::string(names.at(i)) + "' of " +
                       (first_input.empty() ? "its call" : "'" + first_input + "'") +
                       " (a call's files are <input>.<name>.dat, names in order: " + order + ")");
    }
  }
}

OptionSpec task_option() {
  return {"task", std::string(kTaskChoices),
          "what the model computes: how many inputs make one call, and what it must return", false,
          std::string(kDefaultTask)};
}

}  // namespace tvdeploy
