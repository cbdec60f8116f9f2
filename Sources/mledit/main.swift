// The mledit executable: everything lives in MLEditCLI so that it can be tested in-process.
// First the process makes sure OpenBLAS runs the kernels this CPU supports (BLASKernels).
import Foundation
import MLEditCLI
import Tensors

BLASKernels.prepareProcess()
exit(MLEditCommandLine.run(Array(CommandLine.arguments.dropFirst()), console: .standard()))
