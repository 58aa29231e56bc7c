# The completion function of the generated bash script (scripts/package-completions.mjs puts the
# tables above it; the key "." is the top level): reads _roster_children, _roster_flags and _roster_values.
_roster() {
  local cur=${COMP_WORDS[COMP_CWORD]} p='' i w prev=''
  COMPREPLY=()
  # The command: the leading words that are topics or commands.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ -n ${_roster_children[${p:-.}]+set} && " ${_roster_children[${p:-.}]} " == *" $w "* ]]; then
      p=${p:+$p:}$w
    else
      break
    fi
  done
  if ((COMP_CWORD > 1)); then
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    # --flag=value: bash splits it at "=" (COMP_WORDBREAKS).
    if [[ $prev == = ]] && ((COMP_CWORD > 2)); then prev=${COMP_WORDS[COMP_CWORD - 2]}; fi
    if [[ $cur == = ]]; then cur='' prev=${COMP_WORDS[COMP_CWORD - 1]}; fi
  fi
  if [[ -n $prev && -n ${_roster_values["$p $prev"]+set} ]]; then
    if [[ -n ${_roster_values["$p $prev"]} ]]; then
      mapfile -t COMPREPLY < <(compgen -W "${_roster_values["$p $prev"]}" -- "$cur")
    else
      compopt -o default 2>/dev/null
    fi
  elif [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_roster_flags[${p:-.}]-}" -- "$cur")
  elif ((i == COMP_CWORD)) && [[ -n ${_roster_children[${p:-.}]+set} ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_roster_children[${p:-.}]}" -- "$cur")
  else
    compopt -o default 2>/dev/null
  fi
  return 0
}
complete -F _roster roster
