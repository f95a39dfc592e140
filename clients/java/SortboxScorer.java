/*
 * sortbox reference client: scores texts with a sortbox model JSON (schema_version 2), written from
 * README "Model JSON format" alone. One file, Java 17 standard library only, no locale-dependent
 * call anywhere (no toLowerCase, no Character.isLetter, no java.text.Normalizer): every Unicode
 * property comes from the model's own "unicode" tables, so a phone scores as the batch does.
 *
 *   java clients/java/SortboxScorer.java model.json messages.csv > scores.csv
 *   java clients/java/SortboxScorer.java model.json messages.csv --unscorable unscorable.csv
 *   java clients/java/SortboxScorer.java --conformance tests/conformance/cases.json
 *
 * In an app:
 *   SortboxScorer.Model model = SortboxScorer.Model.load(Path.of("model.json"));
 *   SortboxScorer.Result result = model.score(text);
 *   if (result.reason == null) { double spam = result.scores[model.classIndex("spam")]; ... }
 */

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

public final class SortboxScorer {
    public static final int SCHEMA_VERSION = 2;
    public static final String TOKEN_PATTERN = "\\w+(?:'\\w+)*|[$\u00a3\u20ac\u00a5]";
    static final long MAX_FILE_BYTES = 256L * 1024 * 1024;

    private SortboxScorer() {}

    /** A model file that cannot be used: one line naming the field. */
    public static final class ModelException extends Exception {
        public ModelException(String message) { super(message); }
    }

    /** The outcome for one text: reason == null and scores/decisions per class, or an unscorable reason. */
    public static final class Result {
        public final String reason; // "quarantined:<reason>" or "no_known_term"; null when scored
        public final String cleaned; // null when quarantined
        public final List<String> words; // null when quarantined
        public final List<Integer> terms; // vocabulary indices; null when quarantined
        public final double[] scores; // per class in Model.classNames order; null when unscorable
        public final boolean[] decisions;

        Result(String reason, String cleaned, List<String> words, List<Integer> terms, double[] scores, boolean[] decisions) {
            this.reason = reason;
            this.cleaned = cleaned;
            this.words = words;
            this.terms = terms;
            this.scores = scores;
            this.decisions = decisions;
        }
    }

    // ------------------------------------------------------------------------------------------
    // The model
    // ------------------------------------------------------------------------------------------

    /** A loaded, checked model: thread-safe once built. */
    public static final class Model {
        final Map<Integer, int[]> charMap = new HashMap<>();
        final boolean compose;
        final Ranges removed;
        final boolean lowercase;
        final String digits;
        final int maxChars;
        final boolean quarantineControls;
        final Map<Integer, int[]> decompositions = new HashMap<>();
        final Map<Integer, Integer> combining = new HashMap<>();
        final Map<Long, Integer> compositions = new HashMap<>();
        final Map<Integer, int[]> lowerMap = new HashMap<>();
        final Ranges cased;
        final Ranges caseIgnorable;
        final Ranges word;
        final Ranges whiteSpace;
        final Ranges decimal;
        final Set<String> stopwords = new HashSet<>();
        final Map<String, Integer> surfaceForms = new HashMap<>();
        public final List<String> vocabulary = new ArrayList<>();
        final double[] idf;
        public final String[] classNames;
        final double[][] weights;
        final double[] intercepts;
        public final double[] thresholds;
        public final String unicodeVersion;

        public static Model load(Path path) throws ModelException {
            byte[] bytes;
            try {
                if (Files.size(path) > MAX_FILE_BYTES) {
                    throw new ModelException("model file " + path + ": more than the " + MAX_FILE_BYTES + " bytes a model file may have");
                }
                bytes = Files.readAllBytes(path);
            } catch (IOException e) {
                throw new ModelException("model file " + path + ": cannot read it (" + e.getMessage() + ")");
            }
            try {
                return new Model(Json.parse(decodeUtf8(bytes, "not UTF-8")));
            } catch (ModelException e) {
                throw new ModelException("model file " + path + ": " + e.getMessage());
            }
        }

        public Model(Object json) throws ModelException {
            Map<String, Object> model = object(json, "the model");
            Object version = model.get("schema_version");
            if (version instanceof Long && (Long) version == 1L) {
                throw new ModelException("schema_version 1: this client reads schema_version 2 only (version 1 carries no unicode tables;"
                        + " score it with python -m sortbox.portable_scorer, or export the model again)");
            }
            if (!(version instanceof Long) || (Long) version != SCHEMA_VERSION) {
                throw new ModelException("schema_version: must be the integer 2, got " + describe(version));
            }
            keys(model, "the model", "schema_version", "run_date", "model_id", "cleaning", "unicode", "quarantine", "tokenizer",
                    "stopwords", "terms", "vocabulary", "tfidf", "idf", "classes", "skipped_classes", "golden");

            Map<String, Object> cleaning = object(model.get("cleaning"), "cleaning");
            keys(cleaning, "cleaning", "char_map", "unicode_normalization", "removed_ranges", "lowercase", "digits");
            for (Map.Entry<String, Object> entry : object(cleaning.get("char_map"), "cleaning.char_map").entrySet()) {
                int[] key = entry.getKey().codePoints().toArray();
                String target = string(entry.getValue(), "cleaning.char_map");
                if (key.length != 1 || target.codePointCount(0, target.length()) > 8) {
                    throw new ModelException("cleaning.char_map: a key must be one character, a replacement at most 8");
                }
                charMap.put(key[0], target.codePoints().toArray());
            }
            String form = choice(cleaning.get("unicode_normalization"), "cleaning.unicode_normalization", "NFC", "NFKC", "NFD", "NFKD");
            compose = form.equals("NFC") || form.equals("NFKC");
            List<Object> removedList = list(cleaning.get("removed_ranges"), "cleaning.removed_ranges");
            int[][] removedPairs = new int[removedList.size()][];
            for (int i = 0; i < removedPairs.length; i++) {
                List<Object> pair = list(removedList.get(i), "cleaning.removed_ranges[" + i + "]");
                if (pair.size() != 2) {
                    throw new ModelException("cleaning.removed_ranges[" + i + "]: must be a [first, last] pair");
                }
                removedPairs[i] = new int[] {integer(pair.get(0), "cleaning.removed_ranges", 0x80, 0x10FFFF),
                    integer(pair.get(1), "cleaning.removed_ranges", 0x80, 0x10FFFF)};
            }
            removed = new Ranges(removedPairs, "cleaning.removed_ranges");
            lowercase = bool(cleaning.get("lowercase"), "cleaning.lowercase");
            digits = choice(cleaning.get("digits"), "cleaning.digits", "zero", "remove", "keep");

            Map<String, Object> tables = object(model.get("unicode"), "unicode");
            keys(tables, "unicode", "version", "decompositions", "combining_classes", "compositions", "lowercase", "cased",
                    "case_ignorable", "word", "white_space", "decimal_digits");
            unicodeVersion = string(tables.get("version"), "unicode.version");
            for (int[][] entry : Tables.mappings(string(tables.get("decompositions"), "unicode.decompositions"), 1, 18, "unicode.decompositions")) {
                decompositions.put(entry[0][0], entry[1]);
            }
            for (int[][] entry : Tables.mappings(string(tables.get("compositions"), "unicode.compositions"), 2, 1, "unicode.compositions")) {
                compositions.put(pairKey(entry[0][0], entry[0][1]), entry[1][0]);
            }
            for (int[][] entry : Tables.mappings(string(tables.get("lowercase"), "unicode.lowercase"), 1, 3, "unicode.lowercase")) {
                lowerMap.put(entry[0][0], entry[1]);
            }
            for (int[] entry : Tables.classes(string(tables.get("combining_classes"), "unicode.combining_classes"))) {
                for (int code = entry[0]; code <= entry[1]; code++) {
                    combining.put(code, entry[2]);
                }
            }
            cased = new Ranges(Tables.ranges(string(tables.get("cased"), "unicode.cased"), "unicode.cased"), "unicode.cased");
            caseIgnorable = new Ranges(Tables.ranges(string(tables.get("case_ignorable"), "unicode.case_ignorable"), "unicode.case_ignorable"),
                    "unicode.case_ignorable");
            if (caseIgnorable.contains(CAPITAL_SIGMA)) {
                throw new ModelException("unicode.case_ignorable: must not hold U+03A3");
            }
            word = new Ranges(Tables.ranges(string(tables.get("word"), "unicode.word"), "unicode.word"), "unicode.word");
            whiteSpace = new Ranges(Tables.ranges(string(tables.get("white_space"), "unicode.white_space"), "unicode.white_space"),
                    "unicode.white_space");
            decimal = new Ranges(Tables.ranges(string(tables.get("decimal_digits"), "unicode.decimal_digits"), "unicode.decimal_digits"),
                    "unicode.decimal_digits");

            Map<String, Object> quarantine = object(model.get("quarantine"), "quarantine");
            keys(quarantine, "quarantine", "max_chars", "control_characters");
            maxChars = integer(quarantine.get("max_chars"), "quarantine.max_chars", 1, Integer.MAX_VALUE);
            quarantineControls = bool(quarantine.get("control_characters"), "quarantine.control_characters");
            Map<String, Object> tokenizer = object(model.get("tokenizer"), "tokenizer");
            keys(tokenizer, "tokenizer", "pattern", "regex_flavour", "input");
            choice(tokenizer.get("pattern"), "tokenizer.pattern", TOKEN_PATTERN);
            choice(tokenizer.get("regex_flavour"), "tokenizer.regex_flavour", "python-re");
            choice(tokenizer.get("input"), "tokenizer.input", "cleaned text");
            Map<String, Object> tfidf = object(model.get("tfidf"), "tfidf");
            keys(tfidf, "tfidf", "term_frequency", "idf", "normalization");
            choice(tfidf.get("term_frequency"), "tfidf.term_frequency", "raw count");
            choice(tfidf.get("idf"), "tfidf.idf", "log2(documents / document frequency)");
            choice(tfidf.get("normalization"), "tfidf.normalization", "l2");

            List<Object> idfList = list(model.get("idf"), "idf");
            int terms = idfList.size();
            if (terms == 0) {
                throw new ModelException("idf: no term (a model needs at least one)");
            }
            idf = numbers(idfList, "idf", terms);
            for (int i = 0; i < terms; i++) {
                if (idf[i] < 0) {
                    throw new ModelException("idf[" + i + "]: must be a finite number >= 0.0");
                }
            }
            for (Object term : list(model.get("vocabulary"), "vocabulary")) {
                vocabulary.add(string(term, "vocabulary"));
            }
            if (vocabulary.size() != terms) {
                throw new ModelException("vocabulary: " + vocabulary.size() + " terms but idf has " + terms);
            }
            for (Object stopword : list(model.get("stopwords"), "stopwords")) {
                stopwords.add(string(stopword, "stopwords"));
            }
            Map<String, Object> termSpec = object(model.get("terms"), "terms");
            keys(termSpec, "terms", "stemmer", "surface_forms");
            for (Map.Entry<String, Object> entry : object(termSpec.get("surface_forms"), "terms.surface_forms").entrySet()) {
                surfaceForms.put(entry.getKey(), integer(entry.getValue(), "terms.surface_forms", 0, terms - 1));
            }
            Map<String, Object> classes = object(model.get("classes"), "classes");
            if (classes.isEmpty()) {
                throw new ModelException("classes: must be an object of 1 to 1,000 classes");
            }
            classNames = classes.keySet().toArray(new String[0]);
            Arrays.sort(classNames); // code unit order = code point order here: names are A-Z a-z 0-9 _ -
            weights = new double[classNames.length][];
            intercepts = new double[classNames.length];
            thresholds = new double[classNames.length];
            for (int c = 0; c < classNames.length; c++) {
                String where = "classes." + classNames[c];
                if (!classNames[c].matches("[A-Za-z0-9_-]{1,200}")) {
                    throw new ModelException("classes: class name must be 1 to 200 of A-Z a-z 0-9 _ -");
                }
                Map<String, Object> spec = object(classes.get(classNames[c]), where);
                keys(spec, where, "weights", "intercept", "link", "threshold", "threshold_policy", "cv_roc_auc");
                weights[c] = numbers(list(spec.get("weights"), where + ".weights"), where + ".weights", terms);
                intercepts[c] = number(spec.get("intercept"), where + ".intercept");
                choice(spec.get("link"), where + ".link", "logistic");
                thresholds[c] = number(spec.get("threshold"), where + ".threshold");
                if (!(thresholds[c] >= 0.0 && thresholds[c] <= 1.0)) {
                    throw new ModelException(where + ".threshold: must be a finite number from 0.0 to 1.0");
                }
            }
        }

        /** Index of a class in `classNames` (and in Result.scores), or -1. */
        public int classIndex(String name) {
            return Arrays.binarySearch(classNames, name) >= 0 ? Arrays.binarySearch(classNames, name) : -1;
        }

        // ---- step 1: quarantine, step 2: cleaning ----------------------------------------

        /** Cleaned text as code points, or throws Quarantined with the reason. */
        int[] clean(String text) throws Quarantined {
            if (text == null) {
                throw new Quarantined("null_text");
            }
            int[] codes = text.codePoints().toArray();
            if (codes.length > maxChars) {
                throw new Quarantined("too_long");
            }
            boolean blank = true;
            for (int code : codes) {
                blank &= whiteSpace.contains(code);
            }
            if (blank) {
                throw new Quarantined("empty_text");
            }
            IntList mapped = new IntList(codes.length);
            for (int code : codes) {
                int[] replacement = charMap.get(code);
                if (replacement == null) {
                    mapped.add(code);
                } else {
                    mapped.addAll(replacement);
                }
            }
            int[] normalized = normalize(mapped.toArray());
            if (quarantineControls) {
                for (int code : normalized) {
                    if (code <= 0x08 || code == 0x0B || code == 0x0C || (code >= 0x0E && code <= 0x1F) || (code >= 0x7F && code <= 0x9F)) {
                        throw new Quarantined("control_characters");
                    }
                }
            }
            for (int i = 0; i < normalized.length; i++) {
                if (removed.contains(normalized[i])) {
                    normalized[i] = ' ';
                }
            }
            int[] cleaned = collapse(normalized);
            if (lowercase) {
                cleaned = lower(cleaned);
            }
            if (digits.equals("zero")) {
                for (int i = 0; i < cleaned.length; i++) {
                    if (decimal.contains(cleaned[i])) {
                        cleaned[i] = '0';
                    }
                }
            } else if (digits.equals("remove")) {
                IntList kept = new IntList(cleaned.length);
                for (int code : cleaned) {
                    if (!decimal.contains(code)) {
                        kept.add(code);
                    }
                }
                cleaned = collapse(kept.toArray());
            }
            if (cleaned.length == 0) {
                throw new Quarantined("empty_after_cleaning");
            }
            return cleaned;
        }

        int[] normalize(int[] codes) {
            IntList out = new IntList(codes.length);
            for (int code : codes) {
                if (code >= S_BASE && code < S_BASE + S_COUNT) {
                    int index = code - S_BASE;
                    out.add(L_BASE + index / N_COUNT);
                    out.add(V_BASE + (index % N_COUNT) / T_COUNT);
                    if (index % T_COUNT != 0) {
                        out.add(T_BASE + index % T_COUNT);
                    }
                } else {
                    int[] decomposed = decompositions.get(code);
                    if (decomposed == null) {
                        out.add(code);
                    } else {
                        out.addAll(decomposed);
                    }
                }
            }
            int[] result = out.toArray();
            // canonical ordering: stable insertion sort of every run of non-zero combining class
            for (int i = 1; i < result.length; i++) {
                int klass = ccc(result[i]);
                if (klass == 0) {
                    continue;
                }
                int j = i;
                int code = result[i];
                while (j > 0 && ccc(result[j - 1]) > klass) {
                    result[j] = result[j - 1];
                    j--;
                }
                result[j] = code;
            }
            return compose ? composeAll(result) : result;
        }

        private int ccc(int code) {
            Integer klass = combining.get(code);
            return klass == null ? 0 : klass;
        }

        private int[] composeAll(int[] codes) {
            IntList result = new IntList(codes.length);
            int starter = -1;
            int lastClass = 0;
            for (int code : codes) {
                int klass = ccc(code);
                if (starter >= 0 && (lastClass < klass || (lastClass == 0 && result.size() - 1 == starter))) {
                    int composite = pair(result.get(starter), code);
                    if (composite >= 0) {
                        result.set(starter, composite);
                        continue;
                    }
                }
                if (klass == 0) {
                    starter = result.size();
                    lastClass = 0;
                } else {
                    lastClass = klass;
                }
                result.add(code);
            }
            return result.toArray();
        }

        private int pair(int first, int second) {
            if (first >= L_BASE && first < L_BASE + L_COUNT && second >= V_BASE && second < V_BASE + V_COUNT) {
                return S_BASE + ((first - L_BASE) * V_COUNT + (second - V_BASE)) * T_COUNT;
            }
            if (first >= S_BASE && first < S_BASE + S_COUNT && (first - S_BASE) % T_COUNT == 0 && second > T_BASE && second < T_BASE + T_COUNT) {
                return first + (second - T_BASE);
            }
            Integer composite = compositions.get(pairKey(first, second));
            return composite == null ? -1 : composite;
        }

        private int[] collapse(int[] codes) {
            IntList out = new IntList(codes.length);
            boolean pending = false;
            for (int code : codes) {
                if (whiteSpace.contains(code) || code <= 0x1F || (code >= 0x7F && code <= 0x9F)) {
                    pending = true;
                    continue;
                }
                if (pending && out.size() > 0) {
                    out.add(' ');
                }
                pending = false;
                out.add(code);
            }
            return out.toArray();
        }

        int[] lower(int[] codes) {
            IntList out = new IntList(codes.length);
            for (int i = 0; i < codes.length; i++) {
                int code = codes[i];
                if (code == CAPITAL_SIGMA) {
                    out.add(finalSigma(codes, i) ? 0x03C2 : 0x03C3);
                } else {
                    int[] lowered = lowerMap.get(code);
                    if (lowered == null) {
                        out.add(code);
                    } else {
                        out.addAll(lowered);
                    }
                }
            }
            return out.toArray();
        }

        private boolean finalSigma(int[] codes, int index) {
            int before = index - 1;
            while (before >= 0 && caseIgnorable.contains(codes[before])) {
                before--;
            }
            if (before < 0 || !cased.contains(codes[before])) {
                return false;
            }
            int after = index + 1;
            while (after < codes.length && caseIgnorable.contains(codes[after])) {
                after++;
            }
            return after == codes.length || !cased.contains(codes[after]);
        }

        // ---- step 3: words ---------------------------------------------------------------

        List<String> words(int[] cleaned) {
            List<String> words = new ArrayList<>();
            int index = 0;
            int size = cleaned.length;
            while (index < size) {
                if (word.contains(cleaned[index])) {
                    int start = index;
                    while (index < size && word.contains(cleaned[index])) {
                        index++;
                        if (index + 1 < size && cleaned[index] == '\'' && word.contains(cleaned[index + 1])) {
                            index++;
                        }
                    }
                    words.add(new String(cleaned, start, index - start));
                } else {
                    int code = cleaned[index];
                    if (code == '$' || code == 0xA3 || code == 0x20AC || code == 0xA5) {
                        words.add(new String(cleaned, index, 1));
                    }
                    index++;
                }
            }
            return words;
        }

        // ---- steps 4-5: TF-IDF and scores -----------------------------------------------

        /** Score one raw text (null = a NULL text). */
        public Result score(String text) {
            int[] cleaned;
            try {
                cleaned = clean(text);
            } catch (Quarantined q) {
                return new Result("quarantined:" + q.getMessage(), null, null, null, null, null);
            }
            String cleanedText = new String(cleaned, 0, cleaned.length);
            List<String> words = words(cleaned);
            List<Integer> indices = new ArrayList<>();
            for (String w : words) {
                if (stopwords.contains(w)) {
                    continue;
                }
                Integer index = surfaceForms.get(w);
                if (index != null) {
                    indices.add(index);
                }
            }
            // counts in order of first occurrence
            LinkedHashMap<Integer, Integer> counts = new LinkedHashMap<>();
            for (int index : indices) {
                counts.merge(index, 1, Integer::sum);
            }
            LinkedHashMap<Integer, Double> vector = new LinkedHashMap<>();
            for (Map.Entry<Integer, Integer> entry : counts.entrySet()) {
                double idfValue = idf[entry.getKey()];
                if (idfValue != 0.0) {
                    vector.put(entry.getKey(), entry.getValue() * idfValue);
                }
            }
            double squares = 0.0;
            for (double w : vector.values()) {
                squares += w * w;
            }
            double norm = Math.sqrt(squares);
            if (!(norm > 0)) {
                return new Result("no_known_term", cleanedText, words, indices, null, null);
            }
            double[] scores = new double[classNames.length];
            boolean[] decisions = new boolean[classNames.length];
            for (int c = 0; c < classNames.length; c++) {
                double sum = 0.0;
                for (Map.Entry<Integer, Double> entry : vector.entrySet()) {
                    sum += (entry.getValue() / norm) * weights[c][entry.getKey()];
                }
                double logit = intercepts[c] + sum;
                scores[c] = logistic(logit);
                decisions[c] = scores[c] >= thresholds[c];
            }
            return new Result(null, cleanedText, words, indices, scores, decisions);
        }
    }

    static double logistic(double logit) {
        if (logit >= 0) {
            return 1.0 / (1.0 + StrictMath.exp(-logit));
        }
        double e = StrictMath.exp(logit);
        return e / (1.0 + e);
    }

    static final class Quarantined extends Exception {
        Quarantined(String reason) { super(reason, null, false, false); }
    }

    static final int CAPITAL_SIGMA = 0x03A3;
    static final int S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7;
    static final int L_COUNT = 19, V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT;

    static long pairKey(int first, int second) {
        return ((long) first << 21) | second;
    }

    /** Sorted, disjoint inclusive code point ranges, searched by bisection. */
    static final class Ranges {
        final int[] starts;
        final int[] ends;

        Ranges(int[][] pairs, String where) throws ModelException {
            starts = new int[pairs.length];
            ends = new int[pairs.length];
            int previous = -1;
            for (int i = 0; i < pairs.length; i++) {
                if (pairs[i][0] <= previous || pairs[i][1] < pairs[i][0]) {
                    throw new ModelException(where + ": ranges must ascend without overlap");
                }
                starts[i] = pairs[i][0];
                ends[i] = pairs[i][1];
                previous = pairs[i][1];
            }
        }

        boolean contains(int code) {
            int low = 0;
            int high = starts.length - 1;
            while (low <= high) {
                int mid = (low + high) >>> 1;
                if (starts[mid] > code) {
                    high = mid - 1;
                } else if (ends[mid] < code) {
                    low = mid + 1;
                } else {
                    return true;
                }
            }
            return false;
        }
    }

    /** The unicode tables' text syntax: upper-case hex code points (README "Model JSON format"). */
    static final class Tables {
        static int hex(String digits, String where) throws ModelException {
            if (digits.length() < 4 || digits.length() > 6 || !digits.matches("[0-9A-F]+")) {
                throw new ModelException(where + ": " + (digits.length() > 20 ? digits.substring(0, 20) : digits) + " is not a code point in hex");
            }
            int code = Integer.parseInt(digits, 16);
            if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
                throw new ModelException(where + ": " + digits + " is not a character's code point");
            }
            return code;
        }

        static int[][] ranges(String text, String where) throws ModelException {
            if (text.isEmpty()) {
                return new int[0][];
            }
            String[] items = text.split(",", -1);
            int[][] result = new int[items.length][];
            for (int i = 0; i < items.length; i++) {
                int dash = items[i].indexOf('-');
                int first = hex(dash < 0 ? items[i] : items[i].substring(0, dash), where);
                result[i] = new int[] {first, dash < 0 ? first : hex(items[i].substring(dash + 1), where)};
            }
            return result;
        }

        static int[][] classes(String text) throws ModelException {
            String where = "unicode.combining_classes";
            if (text.isEmpty()) {
                return new int[0][];
            }
            String[] items = text.split(",", -1);
            int[][] result = new int[items.length][];
            int previous = -1;
            for (int i = 0; i < items.length; i++) {
                int colon = items[i].indexOf(':');
                if (colon < 0 || !items[i].substring(colon + 1).matches("[0-9]{1,3}")) {
                    throw new ModelException(where + ": entry " + (i + 1) + " must be first[-last]:class");
                }
                int[] range = ranges(items[i].substring(0, colon), where)[0];
                int klass = Integer.parseInt(items[i].substring(colon + 1));
                if (range[0] <= previous || range[1] < range[0] || klass < 1 || klass > 254) {
                    throw new ModelException(where + ": entry " + (i + 1) + " must ascend, with a class from 1 to 254");
                }
                previous = range[1];
                result[i] = new int[] {range[0], range[1], klass};
            }
            return result;
        }

        /** Entries "k1[ k2]>c1 c2 ...": {{keys}, {mapped}}, keys ascending. */
        static List<int[][]> mappings(String text, int keyWidth, int longest, String where) throws ModelException {
            List<int[][]> result = new ArrayList<>();
            if (text.isEmpty()) {
                return result;
            }
            long previous = -1;
            for (String item : text.split(",", -1)) {
                int arrow = item.indexOf('>');
                if (arrow < 0) {
                    throw new ModelException(where + ": entry " + (result.size() + 1) + " has no >");
                }
                int[] key = codes(item.substring(0, arrow), where);
                int[] value = codes(item.substring(arrow + 1), where);
                if (key.length != keyWidth || value.length < 1 || value.length > longest) {
                    throw new ModelException(where + ": entry " + (result.size() + 1) + " must map " + keyWidth + " code point(s) to 1 to " + longest);
                }
                long order = keyWidth == 1 ? key[0] : pairKey(key[0], key[1]);
                if (order <= previous) {
                    throw new ModelException(where + ": entry " + (result.size() + 1) + " is not after the one before");
                }
                previous = order;
                result.add(new int[][] {key, value});
            }
            return result;
        }

        private static int[] codes(String text, String where) throws ModelException {
            String[] parts = text.split(" ", -1);
            int[] result = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                result[i] = hex(parts[i], where);
            }
            return result;
        }
    }

    /** A growable int array. */
    static final class IntList {
        private int[] data;
        private int size;

        IntList(int capacity) { data = new int[Math.max(4, capacity)]; }

        void add(int value) {
            if (size == data.length) {
                data = Arrays.copyOf(data, data.length * 2);
            }
            data[size++] = value;
        }

        void addAll(int[] values) {
            for (int value : values) {
                add(value);
            }
        }

        int get(int index) { return data[index]; }

        void set(int index, int value) { data[index] = value; }

        int size() { return size; }

        int[] toArray() { return Arrays.copyOf(data, size); }
    }

    // ------------------------------------------------------------------------------------------
    // JSON (RFC 8259): objects keep their order, duplicate keys are refused, integers are Long
    // ------------------------------------------------------------------------------------------

    static final class Json {
        private final String text;
        private int at;
        private int depth;

        private Json(String text) { this.text = text; }

        static Object parse(String text) throws ModelException {
            Json parser = new Json(text);
            parser.space();
            Object value = parser.value();
            parser.space();
            if (parser.at != text.length()) {
                throw parser.error("extra data");
            }
            return value;
        }

        private ModelException error(String what) {
            return new ModelException("not valid JSON: " + what + " at character " + at);
        }

        private void space() {
            while (at < text.length() && " \t\r\n".indexOf(text.charAt(at)) >= 0) {
                at++;
            }
        }

        private Object value() throws ModelException {
            if (at >= text.length()) {
                throw error("unexpected end");
            }
            char c = text.charAt(at);
            if (c == '{' || c == '[') {
                if (++depth > 500) {
                    throw error("nested too deeply");
                }
                Object result = c == '{' ? object() : array();
                depth--;
                return result;
            }
            if (c == '"') {
                return string();
            }
            if (text.startsWith("true", at)) {
                at += 4;
                return Boolean.TRUE;
            }
            if (text.startsWith("false", at)) {
                at += 5;
                return Boolean.FALSE;
            }
            if (text.startsWith("null", at)) {
                at += 4;
                return null;
            }
            return number();
        }

        private Map<String, Object> object() throws ModelException {
            Map<String, Object> result = new LinkedHashMap<>();
            at++;
            space();
            if (at < text.length() && text.charAt(at) == '}') {
                at++;
                return result;
            }
            while (true) {
                space();
                if (at >= text.length() || text.charAt(at) != '"') {
                    throw error("expected a key");
                }
                String key = string();
                space();
                expect(':');
                space();
                Object item = value();
                if (result.containsKey(key)) {
                    throw new ModelException("key '" + key + "' appears twice in one object");
                }
                result.put(key, item);
                space();
                if (at < text.length() && text.charAt(at) == ',') {
                    at++;
                    continue;
                }
                expect('}');
                return result;
            }
        }

        private List<Object> array() throws ModelException {
            List<Object> result = new ArrayList<>();
            at++;
            space();
            if (at < text.length() && text.charAt(at) == ']') {
                at++;
                return result;
            }
            while (true) {
                space();
                result.add(value());
                space();
                if (at < text.length() && text.charAt(at) == ',') {
                    at++;
                    continue;
                }
                expect(']');
                return result;
            }
        }

        private void expect(char c) throws ModelException {
            if (at >= text.length() || text.charAt(at) != c) {
                throw error("expected '" + c + "'");
            }
            at++;
        }

        private String string() throws ModelException {
            at++;
            StringBuilder out = new StringBuilder();
            while (true) {
                if (at >= text.length()) {
                    throw error("unterminated string");
                }
                char c = text.charAt(at++);
                if (c == '"') {
                    return out.toString();
                }
                if (c < 0x20) {
                    throw error("control character in a string");
                }
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                if (at >= text.length()) {
                    throw error("unterminated string");
                }
                char e = text.charAt(at++);
                switch (e) {
                    case '"': out.append('"'); break;
                    case '\\': out.append('\\'); break;
                    case '/': out.append('/'); break;
                    case 'b': out.append('\b'); break;
                    case 'f': out.append('\f'); break;
                    case 'n': out.append('\n'); break;
                    case 'r': out.append('\r'); break;
                    case 't': out.append('\t'); break;
                    case 'u':
                        if (at + 4 > text.length() || !text.substring(at, at + 4).matches("[0-9a-fA-F]{4}")) {
                            throw error("bad \\u escape");
                        }
                        out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                        at += 4;
                        break;
                    default: throw error("bad escape");
                }
            }
        }

        private Object number() throws ModelException {
            int start = at;
            if (at < text.length() && text.charAt(at) == '-') {
                at++;
            }
            boolean integral = true;
            while (at < text.length() && "0123456789.eE+-".indexOf(text.charAt(at)) >= 0) {
                char c = text.charAt(at);
                integral &= c >= '0' && c <= '9';
                at++;
            }
            String literal = text.substring(start, at);
            if (!literal.matches("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?")) {
                at = start;
                throw error("unexpected character");
            }
            double value = Double.parseDouble(literal);
            if (Double.isInfinite(value)) {
                throw new ModelException("a number that overflows to infinity at character " + start);
            }
            if (integral && literal.length() <= 18) {
                return Long.parseLong(literal);
            }
            return value;
        }
    }

    // ---- checks of one JSON value --------------------------------------------------------

    static String describe(Object value) {
        if (value == null) {
            return "null";
        }
        if (value instanceof String) {
            String s = (String) value;
            return "the string '" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "'";
        }
        if (value instanceof Map) {
            return "an object";
        }
        if (value instanceof List) {
            return "an array";
        }
        return value instanceof Boolean ? value.toString() : "the number " + value;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(Object value, String where) throws ModelException {
        if (!(value instanceof Map)) {
            throw new ModelException(where + ": must be an object, got " + describe(value));
        }
        return (Map<String, Object>) value;
    }

    static void keys(Map<String, Object> value, String where, String... keys) throws ModelException {
        Set<String> expected = new HashSet<>(Arrays.asList(keys));
        for (String key : keys) {
            if (!value.containsKey(key)) {
                throw new ModelException(where + ": missing key '" + key + "'");
            }
        }
        for (String key : value.keySet()) {
            if (!expected.contains(key)) {
                throw new ModelException(where + ": unknown key '" + key + "'");
            }
        }
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object value, String where) throws ModelException {
        if (!(value instanceof List)) {
            throw new ModelException(where + ": must be an array, got " + describe(value));
        }
        return (List<Object>) value;
    }

    static String string(Object value, String where) throws ModelException {
        if (!(value instanceof String)) {
            throw new ModelException(where + ": must be a string, got " + describe(value));
        }
        return (String) value;
    }

    static String choice(Object value, String where, String... allowed) throws ModelException {
        if (value instanceof String && Arrays.asList(allowed).contains(value)) {
            return (String) value;
        }
        throw new ModelException(where + ": must be one of " + String.join(", ", allowed) + ", got " + describe(value));
    }

    static boolean bool(Object value, String where) throws ModelException {
        if (!(value instanceof Boolean)) {
            throw new ModelException(where + ": must be true or false, got " + describe(value));
        }
        return (Boolean) value;
    }

    static int integer(Object value, String where, int low, int high) throws ModelException {
        if (!(value instanceof Long) || (Long) value < low || (Long) value > high) {
            throw new ModelException(where + ": must be an integer from " + low + " to " + high + ", got " + describe(value));
        }
        return (int) (long) (Long) value;
    }

    static double number(Object value, String where) throws ModelException {
        if (value instanceof Long) {
            return (Long) value;
        }
        if (!(value instanceof Double) || !Double.isFinite((Double) value)) {
            throw new ModelException(where + ": must be a finite number, got " + describe(value));
        }
        return (Double) value;
    }

    static double[] numbers(List<Object> values, String where, int length) throws ModelException {
        if (values.size() != length) {
            throw new ModelException(where + ": " + values.size() + " entries, must be " + length + " (one per vocabulary term)");
        }
        double[] result = new double[length];
        for (int i = 0; i < length; i++) {
            result[i] = number(values.get(i), where + "[" + i + "]");
        }
        return result;
    }

    static String decodeUtf8(byte[] bytes, String what) throws ModelException {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new ModelException(what);
        }
    }

    // ------------------------------------------------------------------------------------------
    // scores.csv: the Python scorer's columns and formatting
    // ------------------------------------------------------------------------------------------

    /** Python's repr of a float: the shortest decimal that reads back as the same double. */
    public static String formatScore(double x) {
        if (x == 0) {
            return 1 / x < 0 ? "-0.0" : "0.0";
        }
        if (Double.isNaN(x)) {
            return "nan";
        }
        if (Double.isInfinite(x)) {
            return x > 0 ? "inf" : "-inf";
        }
        BigDecimal exact = new BigDecimal(x);
        BigDecimal best = null;
        for (int precision = 1; precision <= 17 && best == null; precision++) {
            BigDecimal rounded = exact.round(new MathContext(precision, RoundingMode.HALF_EVEN));
            if (rounded.doubleValue() == x) {
                best = rounded;
                break;
            }
            for (BigDecimal candidate : new BigDecimal[] {rounded.subtract(rounded.ulp()), rounded.add(rounded.ulp())}) {
                if (candidate.doubleValue() == x && (best == null
                        || candidate.subtract(exact).abs().compareTo(best.subtract(exact).abs()) < 0)) {
                    best = candidate;
                }
            }
        }
        BigDecimal stripped = best.stripTrailingZeros();
        String digits = stripped.unscaledValue().abs().toString();
        int exponent = digits.length() - 1 - stripped.scale(); // x = d.ddd * 10^exponent
        String sign = x < 0 ? "-" : "";
        if (exponent < -4 || exponent >= 16) {
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            String power = String.valueOf(Math.abs(exponent));
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (power.length() < 2 ? "0" + power : power);
        }
        if (exponent < 0) {
            return sign + "0." + "0".repeat(-exponent - 1) + digits;
        }
        if (digits.length() <= exponent + 1) {
            return sign + digits + "0".repeat(exponent + 1 - digits.length()) + ".0";
        }
        return sign + digits.substring(0, exponent + 1) + "." + digits.substring(exponent + 1);
    }

    /** A cell a spreadsheet would run as a formula (or that starts with ') gets a leading '. */
    public static String csvSafe(String value) {
        if (value.isEmpty()) {
            return value;
        }
        char first = value.charAt(0);
        boolean formula = "=+-@\t\r".indexOf(first) >= 0 && !value.matches("[+-]?[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?");
        return first == '\'' || formula ? "'" + value : value;
    }

    /** One CSV row, "\n"-terminated; every cell quoted when one holds a CR, else only where needed. */
    static void writeRow(Writer out, List<String> cells) throws IOException {
        boolean quoteAll = false;
        for (String cell : cells) {
            quoteAll |= cell.indexOf('\r') >= 0;
        }
        for (int i = 0; i < cells.size(); i++) {
            String cell = cells.get(i);
            if (i > 0) {
                out.write(',');
            }
            if (quoteAll || cell.indexOf(',') >= 0 || cell.indexOf('"') >= 0 || cell.indexOf('\n') >= 0) {
                out.write('"');
                out.write(cell.replace("\"", "\"\""));
                out.write('"');
            } else {
                out.write(cell);
            }
        }
        out.write('\n');
    }

    // ------------------------------------------------------------------------------------------
    // messages.csv: RFC 4180 as Python's csv module reads it (excel dialect, strict)
    // ------------------------------------------------------------------------------------------

    static final class CsvException extends Exception {
        CsvException(String message) { super(message); }
    }

    /** The records of `text`: lines end at LF, CR LF or CR; quoted fields may hold them. */
    static List<List<String>> readCsv(String text) throws CsvException {
        List<List<String>> records = new ArrayList<>();
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        final int startRecord = 0, startField = 1, inField = 2, inQuoted = 3, quoteInQuoted = 4, eatNewline = 5;
        int state = startRecord;
        int line = 0;
        int at = 0;
        int length = text.length();
        while (at < length) {
            int end = at;
            while (end < length && text.charAt(end) != '\n' && text.charAt(end) != '\r') {
                end++;
            }
            if (end < length) {
                end += text.charAt(end) == '\r' && end + 1 < length && text.charAt(end + 1) == '\n' ? 2 : 1;
            }
            line++;
            for (int i = at; i <= end; i++) {
                boolean eol = i == end;
                char c = eol ? 0 : text.charAt(i);
                boolean newline = !eol && (c == '\n' || c == '\r');
                switch (state) {
                    case startRecord:
                        if (eol) {
                            break;
                        }
                        if (newline) {
                            state = eatNewline;
                            break;
                        }
                        state = startField;
                        // fall through
                    case startField:
                        if (eol || newline) {
                            fields.add("");
                            state = eol ? startRecord : eatNewline;
                            if (eol) {
                                records.add(fields);
                                fields = new ArrayList<>();
                            }
                        } else if (c == '"') {
                            state = inQuoted;
                        } else if (c == ',') {
                            fields.add("");
                        } else {
                            field.append(c);
                            state = inField;
                        }
                        break;
                    case inField:
                        if (eol || newline) {
                            fields.add(field.toString());
                            field.setLength(0);
                            state = eol ? startRecord : eatNewline;
                            if (eol) {
                                records.add(fields);
                                fields = new ArrayList<>();
                            }
                        } else if (c == ',') {
                            fields.add(field.toString());
                            field.setLength(0);
                            state = startField;
                        } else {
                            field.append(c);
                        }
                        break;
                    case inQuoted:
                        if (!eol) {
                            if (c == '"') {
                                state = quoteInQuoted;
                            } else {
                                field.append(c);
                            }
                        }
                        break;
                    case quoteInQuoted:
                        if (!eol && c == '"') {
                            field.append('"');
                            state = inQuoted;
                        } else if (!eol && c == ',') {
                            fields.add(field.toString());
                            field.setLength(0);
                            state = startField;
                        } else if (eol || newline) {
                            fields.add(field.toString());
                            field.setLength(0);
                            state = eol ? startRecord : eatNewline;
                            if (eol) {
                                records.add(fields);
                                fields = new ArrayList<>();
                            }
                        } else {
                            throw new CsvException("not valid CSV after line " + (line - 1) + " (',' expected after '\"')");
                        }
                        break;
                    default: // eatNewline
                        if (eol) {
                            state = startRecord;
                            records.add(fields);
                            fields = new ArrayList<>();
                        } else if (!newline) {
                            throw new CsvException("not valid CSV after line " + (line - 1) + " (new-line character seen in unquoted field)");
                        }
                }
            }
            at = end;
        }
        if (state == inQuoted || field.length() > 0) {
            throw new CsvException("not valid CSV after line " + line + " (unexpected end of data)");
        }
        if (state != startRecord) {
            records.add(fields);
        }
        return records;
    }

    // ------------------------------------------------------------------------------------------
    // Command line
    // ------------------------------------------------------------------------------------------

    public static void main(String[] args) throws IOException {
        PrintStream err = new PrintStream(System.err, true, StandardCharsets.UTF_8);
        System.exit(run(args, err));
    }

    static int run(String[] args, PrintStream err) throws IOException {
        if (args.length == 2 && args[0].equals("--conformance")) {
            return Conformance.run(Path.of(args[1]), err);
        }
        String unscorablePath = null;
        List<String> positional = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--unscorable") && i + 1 < args.length) {
                unscorablePath = args[++i];
            } else {
                positional.add(args[i]);
            }
        }
        if (positional.size() != 2) {
            err.println("usage: java SortboxScorer.java MODEL.json MESSAGES.csv [--unscorable FILE] > scores.csv");
            err.println("       java SortboxScorer.java --conformance CASES.json");
            return 2;
        }
        String modelPath = positional.get(0);
        String messagesPath = positional.get(1);
        Model model;
        List<List<String>> records;
        try {
            if (unscorablePath != null) {
                for (String input : new String[] {modelPath, messagesPath}) {
                    if (Files.exists(Path.of(unscorablePath)) && Files.exists(Path.of(input)) && Files.isSameFile(Path.of(unscorablePath), Path.of(input))) {
                        throw new CsvException("--unscorable " + unscorablePath + ": that is an input file, writing there would destroy it");
                    }
                }
            }
            model = Model.load(Path.of(modelPath));
            byte[] bytes;
            try {
                bytes = Files.readAllBytes(Path.of(messagesPath));
            } catch (IOException e) {
                throw new CsvException(messagesPath + ": cannot read it (" + e.getMessage() + ")");
            }
            String text;
            try {
                text = decodeUtf8(bytes, "");
            } catch (ModelException e) {
                throw new CsvException(messagesPath + ": not UTF-8");
            }
            if (text.startsWith("\ufeff")) {
                text = text.substring(1);
            }
            try {
                records = readCsv(text);
            } catch (CsvException e) {
                throw new CsvException(messagesPath + ": " + e.getMessage());
            }
        } catch (ModelException | CsvException e) {
            err.println("SortboxScorer: " + e.getMessage());
            return 2;
        }
        List<String> header = records.isEmpty() ? List.of() : records.get(0);
        int idColumn = header.indexOf("id");
        int textColumn = header.indexOf("text");
        if (idColumn < 0 || textColumn < 0) {
            err.println("SortboxScorer: " + messagesPath + ": needs a header with columns id,text (got " + header + ")");
            return 2;
        }
        if (header.lastIndexOf("id") != idColumn || header.lastIndexOf("text") != textColumn) {
            err.println("SortboxScorer: " + messagesPath + ": the header has two columns named id or text, must have one of each");
            return 2;
        }
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
        Writer unscorable = unscorablePath == null ? new OutputStreamWriter(err, StandardCharsets.UTF_8)
                : Files.newBufferedWriter(Path.of(unscorablePath), StandardCharsets.UTF_8);
        List<String> columns = new ArrayList<>(List.of("id"));
        for (String name : model.classNames) {
            columns.add(csvSafe(name + "_score"));
            columns.add(csvSafe(name + "_decision"));
        }
        writeRow(out, columns);
        writeRow(unscorable, List.of("id", "reason"));
        int scored = 0;
        int failed = 0;
        for (int r = 1; r < records.size(); r++) {
            List<String> row = records.get(r);
            if (row.isEmpty()) {
                continue;
            }
            if (row.size() > header.size()) {
                out.flush();
                unscorable.flush();
                err.println("SortboxScorer: " + messagesPath + ": record " + r + " has " + row.size() + " cells, the header has " + header.size()
                        + " (a text holding a comma must be quoted)");
                return 2;
            }
            String id = idColumn < row.size() ? row.get(idColumn) : null;
            if (id == null || id.isEmpty()) {
                out.flush();
                unscorable.flush();
                err.println("SortboxScorer: " + messagesPath + ": record " + r + " has no id (every row needs one)");
                return 2;
            }
            Result result = model.score(textColumn < row.size() ? row.get(textColumn) : null);
            if (result.reason != null) {
                writeRow(unscorable, List.of(csvSafe(id), result.reason));
                failed++;
                continue;
            }
            List<String> cells = new ArrayList<>();
            cells.add(csvSafe(id));
            for (int c = 0; c < model.classNames.length; c++) {
                cells.add(formatScore(result.scores[c]));
                cells.add(result.decisions[c] ? "1" : "0");
            }
            writeRow(out, cells);
            scored++;
        }
        out.flush();
        unscorable.flush();
        if (unscorablePath != null) {
            unscorable.close();
        }
        err.println("SortboxScorer: " + scored + " scored, " + failed + " unscorable");
        return 0;
    }

    // ------------------------------------------------------------------------------------------
    // The conformance suite (tests/conformance/cases.json)
    // ------------------------------------------------------------------------------------------

    static final class Conformance {
        static int run(Path casesPath, PrintStream err) throws IOException {
            Map<String, Object> suite;
            Map<String, Model> models = new HashMap<>();
            double tolerance;
            try {
                suite = object(Json.parse(decodeUtf8(Files.readAllBytes(casesPath), casesPath + ": not UTF-8")), "cases");
                tolerance = number(suite.get("tolerance"), "tolerance");
                for (Map.Entry<String, Object> entry : object(suite.get("models"), "models").entrySet()) {
                    models.put(entry.getKey(), Model.load(casesPath.resolveSibling(string(entry.getValue(), "models"))));
                }
            } catch (ModelException e) {
                err.println("SortboxScorer: " + e.getMessage());
                return 2;
            }
            int failures = 0;
            int count = 0;
            try {
                for (Object item : list(suite.get("cases"), "cases")) {
                    Map<String, Object> c = object(item, "case");
                    count++;
                    String problem = check(c, models.get(string(c.get("model"), "model")), tolerance);
                    if (problem != null) {
                        failures++;
                        err.println("FAIL " + c.get("id") + " (" + c.get("rule") + "): " + problem);
                    }
                }
            } catch (ModelException e) {
                err.println("SortboxScorer: " + casesPath + ": " + e.getMessage());
                return 2;
            }
            err.println("conformance: " + count + " cases, " + failures + " failed");
            return failures == 0 ? 0 : 1;
        }

        static String sha256(String text) {
            if (text == null) {
                return null;
            }
            try {
                StringBuilder hex = new StringBuilder();
                for (byte b : java.security.MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8))) {
                    hex.append(String.format("%02x", b));
                }
                return hex.toString();
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        static String text(Map<String, Object> c) throws ModelException {
            if (c.containsKey("text")) {
                return (String) c.get("text");
            }
            StringBuilder out = new StringBuilder();
            for (Object part : list(c.get("text_repeat"), "text_repeat")) {
                List<Object> pair = list(part, "text_repeat");
                out.append(string(pair.get(0), "text_repeat").repeat(integer(pair.get(1), "text_repeat", 0, Integer.MAX_VALUE)));
            }
            return out.toString();
        }

        static String check(Map<String, Object> c, Model model, double tolerance) throws ModelException {
            Result result = model.score(text(c));
            Object reason = c.get("unscorable");
            if (!java.util.Objects.equals(reason, result.reason)) {
                return "unscorable " + result.reason + ", expected " + reason;
            }
            List<String> termList = new ArrayList<>();
            if (result.terms != null) {
                for (int index : result.terms) {
                    termList.add(model.vocabulary.get(index));
                }
            }
            if (c.containsKey("cleaned_sha256") && !(c.get("cleaned_sha256").equals(sha256(result.cleaned))
                    && c.get("words_sha256").equals(sha256(String.join("\n", result.words)))
                    && c.get("terms_sha256").equals(sha256(String.join("\n", termList))))) {
                return "cleaned text, words or terms differ (sha256)";
            }
            if (c.containsKey("cleaned") && !c.get("cleaned").equals(result.cleaned)) {
                return "cleaned '" + result.cleaned + "', expected '" + c.get("cleaned") + "'";
            }
            if (c.containsKey("words") && !c.get("words").equals(result.words)) {
                return "words " + result.words + ", expected " + c.get("words");
            }
            if (c.containsKey("terms") && !c.get("terms").equals(termList)) {
                return "terms " + termList + ", expected " + c.get("terms");
            }
            if (c.containsKey("scores")) {
                Map<String, Object> scores = object(c.get("scores"), "scores");
                Map<String, Object> decisions = object(c.get("decisions"), "decisions");
                for (int k = 0; k < model.classNames.length; k++) {
                    double expected = number(scores.get(model.classNames[k]), "scores");
                    if (Math.abs(expected - result.scores[k]) > tolerance) {
                        return model.classNames[k] + " score " + result.scores[k] + ", expected " + expected;
                    }
                    boolean decision = number(decisions.get(model.classNames[k]), "decisions") == 1;
                    if (decision != result.decisions[k] && Math.abs(expected - model.thresholds[k]) > tolerance) {
                        return model.classNames[k] + " decision " + result.decisions[k] + ", expected " + decision;
                    }
                }
            }
            return null;
        }
    }
}
