# The config files every command reads, written by rules (never at parse time). Their content comes
# from the config Snakemake resolved (common.smk); a slice's file name carries a digest of its content,
# so a changed slice is a new file that reruns exactly the jobs that read it.


rule resolved_config:  # the whole validated config: shared rules, notebooks and the manifest read it
    output:
        f"{RESULTS}/config/full-{FULL_CONFIG[1]}.yaml",
    params:
        text=packed(FULL_CONFIG[0]),
    log:
        f"{RESULTS}/logs/config_full.log",
    localrule: True
    priority: 10 * CHAIN_PRIORITY   # milliseconds; never left behind the decodes (it gates its stage's jobs)
    shell:  # no Python start-up: Snakemake runs a run: block in a new process (~3 s a job)
        "printf %s {params.text} | base64 -d | gunzip > {output}.tmp && mv {output}.tmp {output}"


rule config_file:  # results/config.yaml: the same file under a name that does not change
    input:
        f"{RESULTS}/config/full-{FULL_CONFIG[1]}.yaml",
    output:
        CONFIG,
    log:
        f"{RESULTS}/logs/config_file.log",
    localrule: True
    priority: 10 * CHAIN_PRIORITY   # milliseconds; never left behind the decodes (it gates its stage's jobs)
    shell:
        "cp {input} {output}.tmp && mv {output}.tmp {output}"


rule config_slice:  # one (domain, stage) slice: what that stage's commands may read
    output:
        f"{RESULTS}/config/{{domain}}/{{stage}}-{{digest}}.yaml",
    wildcard_constraints:
        stage="|".join(STAGE_READS),
        digest="[0-9a-f]{12}",
    params:
        text=slice_text,
    log:
        f"{RESULTS}/logs/config_{{domain}}_{{stage}}-{{digest}}.log",
    localrule: True
    priority: 10 * CHAIN_PRIORITY   # milliseconds; never left behind the decodes (it gates its stage's jobs)
    shell:
        "printf %s {params.text} | base64 -d | gunzip > {output}.tmp && mv {output}.tmp {output}"
