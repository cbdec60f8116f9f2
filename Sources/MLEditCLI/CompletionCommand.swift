// `mledit completion bash|zsh`: a shell completion script made from the command registry, so it
// always offers exactly the commands and options this binary has. Revisions complete from the
// repository's own branches and tags (asked of mledit itself), other words as file names.
import Foundation

enum CompletionCommand {
    static let spec = CommandSpec(
        name: "completion",
        abstract: "Print a shell completion script (bash or zsh).",
        discussion: """
        bash: add 'source <(mledit completion bash)' to ~/.bashrc. zsh: add 'source <(mledit completion zsh)' to ~/.zshrc \
        after compinit, or save the output as _mledit in a folder of $fpath.
        """,
        arguments: [ArgumentSpec("SHELL", help: "bash or zsh.")],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        switch arguments.positionals[0] {
        case "bash": console.print(bash(MLEditCommandLine.commands))
        case "zsh": console.print(zsh(MLEditCommandLine.commands))
        case let other: throw UsageError("completion scripts exist for bash and zsh, not '\(other)'", command: "completion")
        }
    }

    static let globalOptions = ["--repo", "--threads", "--help", "--version"]

    /// Commands whose positional arguments are revisions rather than files.
    static func takesRevisions(_ command: CommandSpec) -> Bool {
        command.arguments.contains { $0.name.contains("REV") || ["BRANCH", "NAME", "UPSTREAM"].contains($0.name) }
    }

    static func bash(_ commands: [CommandSpec]) -> String {
        var cases: [String] = []
        for command in commands {
            let options = command.options.flatMap(\.names) + ["--help"]
            let valued = command.options.filter { $0.valueName != nil }.flatMap(\.names)
            cases.append("""
                    \(command.name))
                      options="\(options.joined(separator: " "))"
                      valued="\(valued.joined(separator: " "))"
                      revisions=\(takesRevisions(command) ? 1 : 0) ;;
                """)
        }
        return """
            # bash completion for mledit (made by 'mledit completion bash')
            _mledit_revisions() {
              mledit branch 2>/dev/null | sed 's/^[* ]*//; s/ .*//'
              mledit tag 2>/dev/null | sed 's/ .*//'
              echo HEAD
            }
            _mledit() {
              local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" command="" i
              for ((i = 1; i < COMP_CWORD; i++)); do
                case "${COMP_WORDS[i]}" in
                  --repo|--threads) ((i++)) ;;
                  -*) ;;
                  *) command="${COMP_WORDS[i]}"; break ;;
                esac
              done
              if [[ -z "$command" ]]; then
                COMPREPLY=($(compgen -W "\(commands.map(\.name).joined(separator: " ")) \(globalOptions.joined(separator: " "))" -- "$cur"))
                return
              fi
              local options="" valued="" revisions=0
              case "$command" in
            \(cases.joined(separator: "\n"))
              esac
              if [[ " $valued " == *" $prev "* ]]; then
                case "$prev" in
                  --at|--onto) COMPREPLY=($(compgen -W "$(_mledit_revisions)" -- "$cur")) ;;
                  *) COMPREPLY=($(compgen -f -- "$cur")) ;;
                esac
              elif [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "$options" -- "$cur"))
              elif [[ $revisions == 1 ]]; then
                COMPREPLY=($(compgen -W "$(_mledit_revisions)" -- "$cur"))
              else
                COMPREPLY=($(compgen -f -- "$cur"))
              fi
            }
            complete -F _mledit mledit
            """
    }

    static func zsh(_ commands: [CommandSpec]) -> String {
        func clean(_ text: String) -> String {
            text.replacingOccurrences(of: "'", with: "").replacingOccurrences(of: "[", with: "(")
                .replacingOccurrences(of: "]", with: ")").replacingOccurrences(of: ":", with: " ")
        }
        var cases: [String] = []
        for command in commands {
            var specs: [String] = []
            for option in command.options {
                let value = option.valueName.map { ":\($0):\(option.names.contains("--at") ? "_mledit_revisions" : "_files")" } ?? ""
                for name in option.names { specs.append("'\(name)[\(clean(option.help))]\(value)'") }
            }
            specs.append(takesRevisions(command) ? "'*:revision:_mledit_revisions'" : "'*:file:_files'")
            cases.append("    \(command.name)) _arguments \(specs.joined(separator: " ")) ;;")
        }
        return """
            #compdef mledit
            # zsh completion for mledit (made by 'mledit completion zsh')
            _mledit_revisions() {
              local -a revisions
              revisions=(${(f)"$(mledit branch 2>/dev/null | sed 's/^[* ]*//; s/ .*//'; mledit tag 2>/dev/null | sed 's/ .*//')"} HEAD)
              compadd -a revisions
            }
            _mledit() {
              local -a commands
              commands=(\(commands.map { "'\($0.name):\(clean($0.abstract))'" }.joined(separator: " ")))
              if (( CURRENT == 2 )); then
                _describe 'command' commands
                return
              fi
              local command=${words[2]}
              shift words
              (( CURRENT-- ))
              case $command in
            \(cases.joined(separator: "\n"))
              esac
            }
            if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
              _mledit "$@"
            else
              compdef _mledit mledit
            fi
            """
    }
}
