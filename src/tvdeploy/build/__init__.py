"""Stage build: the deployable artifacts made from a model (TorchScript export and variants,
ONNX, OpenVINO IR, AOTInductor packages, each with its build record) and the C++ programs."""
