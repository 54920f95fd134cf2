// Tasks: what a deployed model computes. A task says how many input tensors (.dat files) make one
// model call, what a well-formed output of a call is (infer and bench check every call's output
// they use), and how infer writes a call's results, with the options of infer that configure it.
// A new task is one Task in a source file of its own (src/lib/task_<name>.cpp), named in
// kTaskChoices and listed in all_tasks() (src/lib/task.cpp).
#pragma once

#include <torch/script.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tvdeploy/cli.hpp"
#include "tvdeploy/report.hpp"

namespace tvdeploy {

namespace fs = std::filesystem;

// Classification: one batch in, [N, C] logits out (src/lib/task_classification.cpp).
inline constexpr std::string_view kTaskClassification = "classification";
// Segmentation: one batch in, [N, C, H, W] logits out (src/lib/task_segmentation.cpp).
inline constexpr std::string_view kTaskSegmentation = "segmentation";
// Video classification: one NCTHW clip batch in, [N, C] logits out (src/lib/task_video.cpp).
inline constexpr std::string_view kTaskVideo = "video";
// Optical flow: an image pair in (two inputs per call), [N, 2, H, W] flow out (a tensor, or the
// last of a list of flows) (src/lib/task_optical_flow.cpp).
inline constexpr std::string_view kTaskOpticalFlow = "optical_flow";
// Detection: one [C, H, W] image in, its detection fields out (src/lib/task_detection.cpp).
inline constexpr std::string_view kTaskDetection = "detection";
// The same names as tvdeploy.registry.TASKS (checked by tests/cpp/test_cpp_cli.py).
inline constexpr std::string_view kTaskChoices =
    "classification|segmentation|video|optical_flow|detection";
inline constexpr std::string_view kDefaultTask = kTaskClassification;

// Turns the outputs of a task's model calls into infer's result entries.
class ResultWriter {
 public:
  virtual ~ResultWriter() = default;
  // Appends the entries of one call to results: inputs are the call's input files as given on the
  // command line, output what the model returned for them (already checked by the task's
  // check_output). InputError if the output does not fit the writer's options.
  virtual void write(const std::vector<std::string>& inputs, const c10::IValue& output,
                     json& results) const = 0;
};

class Task {
 public:
  virtual ~Task() = default;
  // As --task names it.
  virtual std::string_view name() const = 0;
  // Input tensors per model call, in the order of the model's arguments.
  virtual std::size_t inputs_per_call() const = 0;
  // The names of a call's inputs, in order, where a call takes several (tvdeploy.registry's
  // Task.input_names): each file must say which it is, <input>.<name>.dat
  // (tvdeploy.registry.paths.input_stem). Empty: a one-input task's files are named freely.
  virtual std::vector<std::string_view> input_names() const { return {}; }
  // Whether its models call torchvision's operators (--torchvision-ops auto loads them).
  virtual bool needs_torchvision_ops() const { return false; }
  // InputError unless output is what the model must return for a batch of `batch` samples.
  virtual void check_output(const c10::IValue& output, std::int64_t batch,
                            const fs::path& model) const = 0;
  // The options of infer that only this task's writer reads (infer offers every task's).
  virtual std::vector<OptionSpec> writer_options() const = 0;
  // The writer configured by infer's options; UsageError or InputError if they are unusable.
  virtual std::unique_ptr<ResultWriter> make_writer(const ParsedArgs& args,
                                                    const fs::path& model) const = 0;
};

// Every task, in kTaskChoices order.
const std::vector<const Task*>& all_tasks();

// The task --task names; UsageError unless it is one of kTaskChoices.
const Task& find_task(const std::string& name);

// UsageError unless the files of one model call are the task's input_names() in order, all of
// one input (<input>.<name>.dat); nothing to check for a task whose inputs are not named.
void check_call_inputs(const Task& task, const std::vector<fs::path>& call);

// The --task option of both programs.
OptionSpec task_option();

// The tasks, one source file each.
const Task& classification_task();
const Task& segmentation_task();
const Task& video_task();
const Task& optical_flow_task();
const Task& detection_task();

// A task of classification's contract under another --task name: one input per call, [N, C]
// logits out, each row's logits and top-k written (src/lib/task_classification.cpp). Whatever
// the input's rank (images, clips), what comes out is the same.
std::unique_ptr<Task> make_logits_task(std::string_view name);

}  // namespace tvdeploy
