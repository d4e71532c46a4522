# Sourced by the scripts that keep a project-local virtualenv of pinned
# Python tools (the emulator, the template lint, the providers' SDKs for the
# conformance tests): one way to install them, whoever asks first.
#
#   venv_install VENV LOCK CHECK WHAT IMPORTS PIP_ARGS...
#
# CHECK names a function that exits 0 when VENV already holds what is pinned
# (metadata only, fast: it is the silent path of every later call). WHAT is
# said while installing; IMPORTS (a Python import statement, or empty) must
# then succeed too. The caller defines `log`.
venv_install() {
    local venv="$1" lock="$2" check="$3" what="$4" imports="$5"
    shift 5
    "$check" && return 0
    # Several processes may ask at once: one installs, the others wait.
    exec 9>"$lock"
    flock 9
    if ! "$check"; then
        log "installing $what into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2
        if ! { [ -z "$imports" ] || "$venv/bin/python" -c "$imports"; } || ! "$check"; then
            log "$what missing after install"
            exit 1
        fi
    fi
    exec 9>&-
}
