// The mledit executable: everything lives in MLEditCLI so that it can be tested in-process.
import Foundation
import MLEditCLI

exit(MLEditCommandLine.run(Array(CommandLine.arguments.dropFirst()), console: .standard()))
