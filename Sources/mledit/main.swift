import MLEditCLI
