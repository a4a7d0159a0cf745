"""Every error spacy-elmo raises, with a message that says what to fix.

Messages are templates filled in at the raise site, so each error names the
file, dataset, line or config key it is about.
"""


class ElmoError(ValueError):
    """Base class of spacy-elmo's errors (a ValueError, so callers that catch
    ValueError keep working)."""


class OptionsError(ElmoError):
    """An options.json (or config dict) that cannot describe a biLM."""


class WeightsError(ElmoError):
    """A weights.hdf5 file that is missing, corrupt or disagrees with options."""


class DownloadError(ElmoError):
    """A weights file that could not be fetched or failed its checksum."""


class InputError(ElmoError):
    """Bad user input: a text file, a vocabulary, a vectors file."""


class OutputError(ElmoError):
    """An output path that cannot be written."""


class Errors:
    E001 = (
        "{path}: options are missing the key '{key}'. An ELMo options.json needs "
        "'lstm' (dim, projection_dim, n_layers) and 'char_cnn' (embedding.dim, "
        "filters, n_highway, max_characters_per_token, activation)."
    )
    E002 = "{path}: option '{key}' has the invalid value {value}: {why}"
    E003 = "{path}: not valid JSON ({err}). Pass the options.json written by bilm-tf/AllenNLP."
    E010 = (
        "{path}: the dataset '{name}' is missing. The file does not hold weights "
        "for this options.json (it has {n_layers} LSTM layers, {n_highway} highway "
        "layers, {n_filters} filters). Check that the weights match the options."
    )
    E011 = (
        "{path}: the dataset '{name}' has shape {shape}, but options.json implies "
        "{expected}. The weights belong to a different model shape."
    )
    E012 = (
        "{path}: cannot read this file as HDF5 ({err}). It may be truncated or "
        "corrupt: a download in the cache (~/.cache/spacy-elmo or "
        "$SPACY_ELMO_CACHE) is fetched again once deleted; a file of your own "
        "must be a bilm-tf weights file, copied whole."
    )
    E013 = "{path}: the file does not exist. {hint}"
    E014 = "{path} is a directory, not a file. {hint}"
    E015 = (
        "{path}: the weights hold more than {options} names: {extra}. Loading "
        "them would silently run a smaller model than the one trained. Pass the "
        "options.json written with these weights, or load only what the options "
        "name with strict=False (--strict false on the command line, strict = false "
        "in [components.elmo.model.bilm])."
    )
    E020 = (
        "Could not fetch {url} ({err}). Without network access, download the file "
        "on another machine and pass its local path instead (options_file=/ "
        "weight_file= in the component config, or --options-file/--weight-file), "
        "or place it in the cache directory {cache_dir} (set {env_var} to move it)."
    )
    E021 = (
        "{url}: the sha256 of the downloaded file is {got}, expected {expected}. "
        "The download is corrupt or the file changed; nothing was kept."
    )
    E022 = "Unknown ELMo weights '{name}': not a preset, and no such folder. {looked_for}"
    E023 = (
        "Ambiguous ELMo weights: {why}. Pass either a preset name / directory, "
        "or both options_file and weight_file (local paths or URLs)."
    )
    E030 = (
        "{key}: unknown state mode '{mode}'. Use one of 'warm' (the default: a fixed "
        "start state), 'reset' (zeros) or 'carry' (bilm-tf/AllenNLP's stateful batches)."
    )
    E031 = (
        "Unknown mix '{mix}'. Use 'average', 'top', 'concat' or a list of "
        "{n} weights (one per ELMo layer, layer 0 = the char-CNN)."
    )
    E033 = (
        "{key}: unknown precision '{value}'. Use one of {options} (fp32 is exact; "
        "tf32, bf16 and fp16 are faster and not exact)."
    )
    E034 = (
        "{key}: precision 'fp16' needs a CUDA GPU. Use 'bf16' or 'fp32' on the "
        "CPU, or pass --gpu-id."
    )
    E035 = (
        "learn_rate_scale must be >= 0 ([components.elmo.model.bilm] "
        "learn_rate_scale), not {value!r}."
    )
    E036 = (
        "No spacy-elmo.ElmoBiLM layer in the model '{name}'. Pass the elmo "
        "component's model or a spacy-elmo.ElmoEncoder."
    )
    E040 = (
        "{path}, line {line}: not valid UTF-8 ({err}). Convert the file to UTF-8, "
        "e.g. `iconv -f latin1 -t utf-8 {path} > fixed.txt`."
    )
    E041 = (
        "The elmo component has no weights yet. Call nlp.initialize() (or "
        "spacy train's [initialize]) or load a saved pipeline."
    )
    E042 = "{path}: this spaCy pipeline has no elmo component (it has {pipes})."
    E043 = (
        "{path}, line {line}: the line is empty. Every line must hold one "
        "whitespace-tokenized sentence (remove blank lines)."
    )
    E044 = "Unknown output '{output}': use 'all', 'top' or 'average'."
    E045 = (
        "{flags}: choose one of --all, --top and --average (with none of them, "
        "--all applies)."
    )
    E046 = (
        "--stateful means --state-mode carry, so it cannot be combined with "
        "--state-mode {mode}. Pass --stateful (or --state-mode carry) for bilm-tf/"
        "AllenNLP's batches, or --state-mode {mode} without --stateful."
    )
    E047 = (
        "{flag} {value} applies to --state-mode warm and reset only: in carry mode "
        "row i of each batch continues row i of the previous one (bilm-tf/AllenNLP), "
        "so lines run whole, --batch-size at a time, in file order. Drop {flag}, or "
        "use --state-mode warm or reset."
    )
    E048 = (
        "--state-mode carry cannot be split across {world} processes (torchrun): "
        "each batch continues the previous one, so a share of the batches would "
        "give other vectors than one process does. Run carry mode in one process, "
        "or use --state-mode warm or reset, which every rank computes exactly."
    )
    E049 = (
        "--gpu-id {gpu_id}{rank}: there is no CUDA device {index} (this process "
        "sees {count}). Pass an existing GPU id (under torchrun, rank LOCAL_RANK "
        "uses GPU --gpu-id + LOCAL_RANK: start at most as many processes per host "
        "as it has GPUs), or -1 for the CPU."
    )

    # Output paths (io/atomic.py), for every command
    E050 = (
        "{path} is an existing directory, so the {what} cannot be written there. "
        "Pass a file path (e.g. {path}/out.hdf5) or remove the directory."
    )
    E051 = (
        "{path} is an existing file, so the {what} (a directory) cannot be created "
        "there. Pass another path or remove the file."
    )
    E052 = (
        "{parent} is not writable, so the {what} {path} cannot be written. Choose a "
        "writable location or fix the permissions."
    )
    E053 = (
        "{parent} is a file, not a directory, so the {what} {path} cannot be "
        "created below it. Choose another path."
    )
    E054 = (
        "{path}: the {what} needs about {need} and {parent} has {free} free. Free "
        "some space or write it elsewhere{hint}."
    )
    E055 = (
        "{path}: the disk filled up while it was written. Nothing was left behind: "
        "free some space or write it elsewhere, then run again."
    )

    # biLM execution (spacy_elmo.bilm: token cache, CUDA graphs)
    E060 = (
        "{key}: the token cache size must be an integer >= 0 (0 turns the cache "
        "off), not {value!r}."
    )

    # models and pipeline (models/, pipeline/, corpora.py)
    E090 = (
        "ElmoListener (upstream '{upstream}') got no ELMo layers from an elmo "
        "component during training. Put the elmo component before this component "
        "in [nlp] pipeline; set the listener's upstream to the elmo component's "
        "name (or \"*\"); and if the elmo component is in [training] "
        "frozen_components, add it to [training] annotating_components too."
    )
    E091 = (
        "ElmoListener (upstream '{upstream}') received the ELMo layers of another "
        "batch than the one it is given (batch id {received} vs {expected}). The "
        "elmo component must process the same batch first, as nlp.update does; a "
        "component between them must not change the Docs' tokens."
    )
    E092 = (
        "ElmoListener (upstream '{upstream}'): its projection has no output width. "
        "Set width in the listener's config ([components.NAME.model.tok2vec] "
        "width), and the width of its encode layer if it has one."
    )
    E093 = (
        "spacy-elmo.ElmoEncoder.v1: {key} must be an integer >= {least}, not "
        "{value!r}. Set [components.elmo.model] {key} (defaults: max_length = 256, "
        "0: never cut; token_budget = 4096)."
    )
    E094 = (
        "The elmo component '{name}' has no labels: it only provides ELMo layers. "
        "Add labels to the components that listen to it (tagger, ner, ...)."
    )
    E095 = (
        "{path}: the file starts like a spaCy DocBin (.spacy) but cannot be read "
        "as one ({err}). It may be truncated: write it again with "
        "DocBin.to_disk, or pass a token-per-line NER file."
    )
    E096 = (
        "{path}, line {line}: the word column ({word}) is empty, so the line has no "
        "token. Delete the line or fix its columns (set word_column/tag_column for "
        "other layouts)."
    )
    E097 = (
        "{path}{where}: the {compression} data is damaged or cut off ({err}), so "
        "the file cannot be read past this point. It may be truncated (an "
        "interrupted download or copy): re-create or fetch it again "
        "(`{tool} -t {path}` checks it)."
    )
    E098 = (
        "{path} is a directory with no spaCy DocBin (.spacy) files in it. The "
        "reader takes a token-per-line NER file, a .spacy file, or a directory "
        "of .spacy files (searched as spacy.Corpus.v1 searches it). {hint}"
    )

    # Pretraining (spacy_elmo.training, `python -m spacy elmo pretrain`)
    E200 = "{path}: {why}"
    E201 = (
        "{path}: the file is empty (no tokens on any line). Training and evaluation "
        "text needs one whitespace-tokenized sentence or line per row."
    )
    E202 = (
        "{path}, line {line}: the line is {n_chars:,} characters long, more than "
        "the limit of {limit:,} ([data] max_line_chars in a pretraining config, "
        "--max-line-chars of evaluate-lm). Split the text into sentences or lines, "
        "or raise the limit."
    )
    E204 = (
        "{path}, line {line}: the token '{token}' already appeared on line {first}. A "
        "vocabulary file holds each token once, one a line."
    )
    E205 = (
        "{path}: config is missing the key '{key}'. Add it (see configs/bilm_tiny.cfg "
        "for every key) or pass it on the command line as --{key} VALUE."
    )
    E206 = "{path}: config key '{key}' has the invalid value {value!r}: {why}"
    E207 = (
        "Config key '{key}': no file matches {pattern!r}. Pass existing text files or "
        "globs, comma-separated, e.g. --{key} 'data/train/*.txt'."
    )
    E208 = (
        "{path}: the checkpoint was written for a different model or vocabulary "
        "({diff}). Resume with the config it was trained with, or start a new "
        "OUTPUT_DIR without --resume."
    )
    E209 = (
        "{path}: no checkpoint to resume from. Run without --resume to start "
        "training, or pass the OUTPUT_DIR of an earlier run."
    )
    E210 = (
        "{path}: cannot read the checkpoint ({err}). It may be truncated: delete it "
        "and resume from model-last/ by starting a new run."
    )
    E211 = (
        "{path}: the directory is not a pretrained biLM with a softmax: it needs "
        "options.json, weights.hdf5 (with softmax/W and softmax/b) and vocab.txt "
        "(missing: {missing}). Pass model-last/ or model-best/ written by "
        "`python -m spacy elmo pretrain`."
    )
    E212 = (
        "{path}: '{key}' has shape {shape}, but the model and vocab.txt ({n_vocab} "
        "tokens) need {expected}."
    )
    E214 = (
        "{path}: the vocabulary must start with '<S>', '</S>', '<UNK>' (found "
        "{found}). Build it with spacy_elmo.training.vocab.build_vocab or add them "
        "as the first three lines."
    )
    E215 = (
        "{path}: the model to start from (training.init_model) has another shape "
        "than the config's [model] ({diff}). Make [model] match its options.json, "
        "or start from a random init with training.init_model = null."
    )
    E220 = "{where}: [{section}] has no key '{key}'. {advice}"
    E221 = (
        "{where}: a pretraining config has no section [{section}]. {advice}Its "
        "sections are {sections} (see configs/bilm_tiny.cfg)."
    )
    E222 = (
        "{where}: {path} declares no variable '{key}' in [paths] (it declares "
        "{declared}). {advice}To add a variable, declare it in the config's [paths]."
    )
    E223 = (
        "{path}: the checkpoint was trained on other files than data.train names "
        "now ({diff}). Resume with the same files; or pass --allow-data-change "
        "(allow_data_change=True) to go on with the new ones from the checkpoint's "
        "step and line position; or start a new run with --overwrite or in "
        "another OUTPUT_DIR."
    )
    E224 = (
        "{path} holds an earlier pretraining run ({found}). Pass --resume "
        "(resume=True) to continue it from its checkpoint, or --overwrite "
        "(overwrite=True) to delete these and train from scratch, or choose "
        "another OUTPUT_DIR."
    )
    E225 = (
        "--resume and --overwrite exclude each other: --resume continues the run "
        "in {path}, --overwrite deletes it and starts again. Pass one of them."
    )
    E226 = (
        "--allow-data-change (allow_data_change=True) only applies with --resume: "
        "it lets a resumed run read other training files. Add --resume or drop it."
    )
    E227 = (
        "{key} = {input} lies in {output} of OUTPUT_DIR {path}, which a new run "
        "writes (and --overwrite deletes). Copy it elsewhere and pass the copy, "
        "or choose another OUTPUT_DIR."
    )

    # word2vec -> spaCy static vectors (spacy_elmo/word2vec/)
    E100 = (
        "{path}: the file is empty. A word2vec file starts with a header "
        "'rows dims' (or directly with a row 'key v1 v2 ...')."
    )
    E101 = (
        "{path}, line {line}: expected {dims} values after the key '{key}', found "
        "{found}. {source} Each row must be 'key v1 ... v{dims}' on one line."
    )
    E102 = (
        "{path}, line {line}: '{token}' is not a number (value {index} of the row "
        "for '{key}'). Fix or delete that row."
    )
    E103 = (
        "{path}: the header says {rows} rows, but the file ends after {found} rows "
        "(line {line}). The file is truncated or the header is wrong: fix the "
        "header, or pass truncate={found} (--truncate {found}) to read only the "
        "complete rows."
    )
    E104 = (
        "{path}, line {line}: the header says {rows} rows, but the file has more. "
        "Fix the header, or pass truncate={rows} (--truncate {rows}) to read only "
        "the first {rows} rows."
    )
    E105 = (
        "{path}, byte offset {offset}: the binary file ends before row {row} of "
        "{rows} is complete{key}: it is truncated or the header is wrong. {complete} "
        "rows are complete: re-create the file, or pass truncate={complete} "
        "(--truncate {complete}) to read only those."
    )
    E106 = (
        "{path}, {where}: the key is not valid UTF-8 ({err}). If the file is "
        "otherwise fine (the word2vec C tool can cut a multi-byte character), "
        "pass unicode_errors='replace' or 'ignore' (--unicode-errors)."
    )
    E107 = "{what} must be one of {options}, not {value!r}."
    E108 = (
        "{path} is a gensim pickle (KeyedVectors.save / Word2Vec.save). Loading "
        "a pickle can run arbitrary code, so it is opt-in: pass allow_pickle=True "
        "(--allow-pickle) if you trust the file, or save it with gensim's "
        "save_word2vec_format() and convert that."
    )
    E109 = (
        "{path}: reading a gensim model needs gensim. Install it with "
        "pip install gensim (or pip install '.[gensim]' in the checkout)."
    )
    E110 = (
        "{path}: the gensim object is a {type}, which has no word vectors. Pass a "
        "file written by KeyedVectors.save() or Word2Vec.save()."
    )
    E111 = (
        "{path}, line 1: the header {header!r} is not 'rows dims' with rows >= 0 "
        "and dims >= 1. Fix the header."
    )
    E112 = (
        "{path}, line {line}: the row has an empty key (it starts with a space). "
        "Delete the row or give it a key."
    )
    E113 = (
        "{path}, byte offset {offset}: no line break in {size} bytes, so this is "
        "not a word2vec text file. If it is binary, pass fmt='binary' "
        "(--format binary); binary files need a 'rows dims' header."
    )
    E114 = (
        "{path}: {fmt} word2vec needs a header line 'rows dims' (found {header!r}). "
        "Headerless files can only be text."
    )
    E115 = (
        "{path} exists and is not a spaCy pipeline directory (no config.cfg), so "
        "it was not overwritten. Choose a new output directory or delete it."
    )
    E117 = (
        "{path}: the file has no rows (header {header!r}). spaCy vectors need at "
        "least one row."
    )
    E118 = (
        "{path}, byte offset {offset}: the header says {rows} rows, but more data "
        "follows the last one. Fix the header, or pass truncate={rows} "
        "(--truncate {rows}) to read only the first {rows} rows."
    )
    E119 = (
        "No word occurs at least min_count={min_count} times in {paths}: nothing "
        "to train. Lower --min-count or pass more text."
    )
    E120 = (
        "{path}, line 1: the first row has no values after its key, so this is "
        "not a word2vec file. Pass a word2vec text or binary file."
    )
    E121 = (
        "{path}, byte offset {offset}: the binary file ends inside its first row"
        "{key}, so it has no complete row: it is truncated or not a word2vec "
        "binary file. Re-create the file."
    )
    E122 = (
        "{err} The file looks like {other} word2vec, not {fmt}: pass "
        "fmt='{other}' (--format {other})."
    )
    E123 = (
        "{path}, line {line}: the file ends inside this row ({found} of {dims} "
        "values after the key '{key}', no line break): it is truncated. Re-create "
        "the file, or pass truncate={complete} (--truncate {complete}) to read only "
        "the {complete} complete rows."
    )
    E124 = (
        "{path}: the header '{rows} {dims}' asks for a {rows} x {dims} array, "
        "which cannot be allocated ({err}). Fix the header (rows, then dimensions)."
    )
    E126 = (
        "{path}, line {line}: two spaces in a row before value {index} of the row "
        "for '{key}'. Values are separated by single spaces (as gensim reads "
        "them): fix that row."
    )

    # NER corpora (corpora.py)
    E301 = (
        "{path}, line {line}: the line has {n} column(s), so there is no word "
        "column {word} or tag column {tag}. Lines are 'token<TAB>tag' (WNUT-17) or "
        "'token POS chunk tag' (CoNLL-2003); set word_column/tag_column for other "
        "layouts (Universal NER: word_column = 1, tag_column = 2)."
    )
    E302 = (
        "{path}, line {line}: '{tag}' is not a BIO/IOB1 tag (O, B-TYPE or I-TYPE). "
        "Check tag_column, or convert BILUO/BIOES tags to BIO first."
    )
    E304 = (
        "{path}, {where}: '{tag}' does not continue an entity of its type, which "
        "BIO does not allow. The file may be IOB1 (CoNLL-2003): use scheme = "
        "\"auto\" or \"iob1\"."
    )
    E305 = (
        "spacy-elmo.ConllNerCorpus.v1 needs a path: set [paths] train/dev or pass "
        "--paths.train / --paths.dev."
    )

    # Nothing a user types destroys their data (io/guard.py, cli/)
    E700 = (
        "{out_what} {out} is {in_what} {inp} (the same file, or a file inside "
        "it): writing it would destroy the input. Choose another {out_what}."
    )
    E701 = (
        "{out_what} {out} holds {in_what} {inp}: the folder is replaced as a "
        "whole, which would delete the input. Choose another {out_what}, or "
        "move the input out of it."
    )
    E702 = (
        "{what} {target} is being written by {holder}, which holds the lock "
        "{lock}. Wait for that run to finish or stop it, or write to another "
        "path. (A lock left by a killed run does not block: this one is held.)"
    )
    E703 = (
        "{what} {path} holds a spaCy pipeline that this command did not write "
        "(it has {found}). Pass --overwrite to replace it, or choose a new "
        "{what}."
    )
    E704 = (
        "'{lang}' is not a language code spaCy knows (LANG). Use an ISO code "
        "such as en, de, fr or xx (multi-language); the codes are the folders "
        "of spacy/lang."
    )
    E705 = "{what} {target}: cannot create its folder ({err}). Choose another {what}."
    E706 = (
        "{path}: the file is UTF-16 (it starts with a UTF-16 byte order mark), "
        "not UTF-8. Convert it: `iconv -f UTF-16 -t UTF-8 {path} > fixed.txt`."
    )
    E707 = (
        "{path}, line {line}: a NUL byte, which no text holds: the file is "
        "binary or UTF-16 (convert UTF-16 with `iconv -f UTF-16 -t UTF-8 {path} "
        "> fixed.txt`). Pass a UTF-8 text file, one tokenized sentence per line."
    )
    E708 = "train-word2vec: {name} (--{flag}) is {value}, not in the range {low}..{high}."
    E709 = "truncate (--truncate) is {value}: it is the number of rows to read, 0 (all) or more."
    E710 = (
        "{path}: the folder holds {found}, so which files are the biLM is "
        "ambiguous. {looked_for}"
    )
    E711 = "{path}: the folder holds no model this package can load. {looked_for}"
    E712 = (
        "'{name}' is {kind}, not an options + weights pair. Load it with "
        "spacy_elmo.models.bilm.load_named_bilm (as the elmo component, embed "
        "and dump-token-embeddings do)."
    )
    # ELMoForManyLangs models (io/efml.py, bilm/efml.py)
    E400 = (
        "{path}: not an ELMoForManyLangs model directory: {why}. A model folder "
        "(as unzipped from the NLPL repository) holds config.json, char.dic, "
        "word.dic, token_embedder.pkl and encoder.pkl."
    )
    E401 = (
        "{path}: {why}. EFML's config.json is the training command line saved "
        "as a JSON object; its 'config_path' names the architecture file "
        "(e.g. \"cnn_50_100_512_4096_sample.json\")."
    )
    E402 = (
        "{path}: the architecture file '{config_path}' named by config_path "
        "is in none of the places ELMoForManyLangs looks: {tried}. Copy the "
        "architecture file into the model directory, or set config_path to "
        "its path (relative to the directory or absolute)."
    )
    E403 = "{path}: the architecture file is not valid JSON ({err})."
    E404 = (
        "{path}: the architecture is missing '{key}'. ELMoForManyLangs needs "
        "encoder.(name, projection_dim, dim, n_layers, cell_clip, proj_clip) and "
        "token_embedder.(name, activation, filters, n_highway, word_dim, "
        "char_dim, max_characters_per_token)."
    )
    E405 = "{path}: '{key}' has the invalid value {value}: {why}."
    E406 = (
        "{path}: token_embedder.name is {name!r}: {why}. Only \"cnn\" (every "
        "published model) makes ELMo layers."
    )
    E407 = (
        "{path}: encoder.name is {name!r}: {why}. Only \"elmo\" (every "
        "published model) makes layered ELMo vectors."
    )
    E408 = (
        "{path}: the file does not exist, and the architecture ({arch}) needs "
        "it: {why}. Unzip the whole model archive into the directory."
    )
    E409 = (
        "{path}, line {line}: {why}. A .dic line is 'KEY<TAB>ID' (UTF-8), as "
        "ELMoForManyLangs writes it."
    )
    E410 = (
        "{path}: the vocabulary has no {missing} entr{plural}, which "
        "ELMoForManyLangs always writes ({specials}). The file is cut or not a "
        "{kind} written by its trainer."
    )
    E411 = (
        "{path}: the ids do not match the rows of {table} in {pkl} ({rows} "
        "rows): {why}. The .dic and the .pkl come from different models."
    )
    E412 = (
        "{path}: the pickle holds more than tensors ({err}), so it was not "
        "loaded: spacy-elmo reads torch pickles with weights_only=True and "
        "never runs code from them. Re-save the state dict as plain tensors "
        "(torch.save(model.state_dict(), ...))."
    )
    E413 = "{path}: cannot read this file as a torch state dict ({err}). It may be truncated or corrupt: unzip the model again."
    E414 = (
        "{path}: the state dict does not match the architecture {arch}: "
        "{why}. Check that config_path names the architecture these weights "
        "were trained with."
    )
    E415 = "{path}: '{key}' holds non-finite values (NaN or inf); the model file is damaged."

    # ELMoForManyLangs catalog (io/efml_models.py)
    E420 = (
        "Unknown ELMoForManyLangs model '{name}'. Use efml-<code> with one of "
        "these ISO codes: {codes}; or pass the path of an unzipped model folder."
    )
    E421 = (
        "{url}: the model archive is damaged ({err}); it was deleted from the "
        "cache, so the next run downloads it again."
    )
    E422 = "{path}: the archive member '{name}' was not extracted: {why}. Nothing was extracted."
    E424 = (
        "{path}: the archive lacks {missing} (it holds {found}). It is not an "
        "ELMoForManyLangs model zip."
    )

    # ElmoEmbedder (embedder.py)
    E430 = "ElmoEmbedder(device={device!r}): not a torch device ({err}). Use \"cpu\", \"cuda\" or \"cuda:N\"."
    E431 = "ElmoEmbedder batch_size is {value!r}: it must be an integer >= 1."
    E432 = (
        "ElmoEmbedder: sentence {index} is {value}, not a list of token strings. "
        "Tokenize first: embed_sentence([\"Hello\", \"world\"]), "
        "embed_batch([[\"Hello\", \"world\"], ...])."
    )


class Warnings:
    W001 = (
        "Removed {path}: a temporary file for {target} left by process {pid}, "
        "which no longer runs (it was killed before it finished)."
    )
    W015 = (
        "{path}: the weights hold more than {options} names: {extra}. strict is "
        "off, so only what the options name is loaded and the rest is ignored."
    )
    W060 = (
        "CUDA graphs for the biLSTM are off for this model ({reason}); it runs the "
        "eager loop instead, with the same results and more launch overhead. "
        "BiLM.set_cuda_graphs(False) turns them off without this warning."
    )
    W600 = (
        "{key}: bf16 on this CPU ({cpu}) is slower than fp32 and not exact: it has "
        "no native bfloat16 matmuls (avx512_bf16 or amx_bf16), so every bf16 "
        "matmul is emulated. Use fp32 here; bf16 pays on CPUs with avx512_bf16 "
        "(AMD EPYC Zen 4 and later) or AMX (Intel Xeon 4th generation and later) "
        "and on CUDA GPUs."
    )
    W061 = (
        "CUDA graphs for the pretraining step are off ({reason}); training runs "
        "the eager step instead, with the same results and more launch overhead."
    )
    W100 = (
        "{path}: {count} duplicate key(s) after the first occurrence were skipped "
        "(the first row of each key is kept, as gensim does), e.g. {examples}."
    )
    W101 = (
        "{path}, line {line}: the file ends without a line break after the last "
        "row (key '{key}'). If the file was cut, that row's last value may be "
        "cut too: check it, or end the file with a line break."
    )

    # Pretraining
    W201 = (
        "{path}: resuming on other training files than the checkpoint's "
        "(--allow-data-change): {diff}. The run goes on from the checkpoint's "
        "step and line position in the new files."
    )
