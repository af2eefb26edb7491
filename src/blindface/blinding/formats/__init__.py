"""The files a fitted blinder is written as: safetensors + JSON (no pickle), and ONNX."""
