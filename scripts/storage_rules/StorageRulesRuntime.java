// The Storage emulator's rules runtime, on the rules engine that the Firestore emulator jar ships.
//
// firebase-tools runs "java -jar cloud-storage-rules-runtime-v<version>.jar" and speaks JSON lines with it
// on stdin/stdout (firebase-tools lib/emulator/storage/rules/runtime.js): "load_ruleset" compiles a
// ruleset, "verify" evaluates one request against it. That jar is a download, which machines without
// internet cannot make; the Firestore emulator jar of the Google Cloud CLI Debian package holds the same
// rules compiler and evaluator (com.google.firebase.rules), service-neutral. This program drives them for
// the firebase.storage service. firestore.get()/exists() in storage rules are not supported here (the
// request is then denied, with an error in the emulator log); this project's storage.rules use neither.
// scripts/storage_launcher.py compiles it (javac from the machine's JDK) into that jar's name, with a
// Class-Path to the gcloud jar, where the real jar is absent.

import com.google.common.collect.ImmutableMap;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.firebase.rules.lang.CompileResult;
import com.google.firebase.rules.lang.FirebaseRulesProtoCompiler;
import com.google.firebase.rules.lang.common.FirebaseRulesLangOptions;
import com.google.firebase.rules.runtime.common.AsyncRuntimeFunction;
import com.google.firebase.rules.runtime.common.EvaluationResult;
import com.google.firebase.rules.runtime.common.Evaluator;
import com.google.firebase.rules.runtime.impl.DefaultEvaluator;
import com.google.firebase.rules.runtime.v1.ExpressionPathSegmentValue;
import com.google.firebase.rules.runtime.v1.ExpressionPathValue;
import com.google.firebase.rules.runtime.v1.ExpressionValue;
import com.google.firebase.rules.runtime.v1.RulesetAst;
import com.google.firebase.rules.v1.File;
import com.google.firebase.rules.v1.Issue;
import com.google.firebase.rules.v1.Source;
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.protobuf.util.JsonFormat;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class StorageRulesRuntime {
  private static final Pattern VERSION = Pattern.compile("rules_version\\s*=\\s*['\"](\\d+)['\"]");
  private static final Map<String, RulesetAst> RULESETS = new HashMap<>();
  private static final Gson GSON = new Gson();

  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    // The emulator waits for this line (request id -1) before it sends anything.
    out.println("{\"id\":-1,\"status\":\"ok\",\"action\":\"ready\"}");
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (line.isBlank()) {
        continue;
      }
      JsonObject request = JsonParser.parseString(line).getAsJsonObject();
      JsonObject answer;
      try {
        answer = handle(request);
      } catch (Exception e) {
        answer = failure(e.getClass().getSimpleName() + ": " + e.getMessage());
      }
      answer.add("id", request.get("id"));
      out.println(GSON.toJson(answer));
    }
  }

  private static JsonObject handle(JsonObject request) throws Exception {
    String action = request.get("action").getAsString();
    JsonObject context = request.getAsJsonObject("context");
    if (action.equals("load_ruleset")) {
      return load(context);
    }
    if (action.equals("verify")) {
      return verify(context);
    }
    return failure("unknown action " + action);
  }

  private static JsonObject load(JsonObject context) throws Exception {
    Source.Builder source = Source.newBuilder();
    StringBuilder text = new StringBuilder();
    for (JsonElement element : context.getAsJsonObject("source").getAsJsonArray("files")) {
      JsonObject file = element.getAsJsonObject();
      String content = file.get("content").getAsString();
      String name = file.has("name") ? file.get("name").getAsString() : "storage.rules";
      source.addFiles(File.newBuilder().setName(name).setContent(content));
      text.append(content);
    }
    FirebaseRulesLangOptions options = FirebaseRulesLangOptions.builder().allowTernaryOperator(true).build();
    CompileResult compiled = FirebaseRulesProtoCompiler.createStandalone(options).compile(source);
    JsonObject answer = ok();
    JsonArray errors = new JsonArray();
    JsonArray warnings = new JsonArray();
    for (Issue issue : compiled.getIssues()) {
      JsonObject described = new JsonObject();
      described.addProperty("description_", issue.getDescription());
      JsonObject position = new JsonObject();
      position.addProperty("fileName_", issue.getSourcePosition().getFileName());
      position.addProperty("line_", issue.getSourcePosition().getLine());
      position.addProperty("column_", issue.getSourcePosition().getColumn());
      described.add("sourcePosition_", position);
      (issue.getSeverity() == Issue.Severity.ERROR ? errors : warnings).add(described);
    }
    answer.add("errors", errors);
    answer.add("warnings", warnings);
    if (!compiled.hasCompilationError()) {
      RULESETS.put(context.get("rulesetName").getAsString(), compiled.getRulesetAst());
      Matcher version = VERSION.matcher(text);
      JsonObject result = new JsonObject();
      result.addProperty("rulesVersion", version.find() ? Integer.parseInt(version.group(1)) : 1);
      answer.add("result", result);
    }
    return answer;
  }

  private static JsonObject verify(JsonObject context) throws Exception {
    RulesetAst ruleset = RULESETS.get(context.get("rulesetName").getAsString());
    if (ruleset == null) {
      return failure("no such ruleset");
    }
    ExpressionPathValue.Builder path = ExpressionPathValue.newBuilder();
    for (String segment : context.get("path").getAsString().split("/")) {
      if (!segment.isEmpty()) {
        path.addSegments(ExpressionPathSegmentValue.newBuilder().setSimple(segment));
      }
    }
    ImmutableMap.Builder<String, Supplier<ListenableFuture<ExpressionValue>>> variables = ImmutableMap.builder();
    for (Map.Entry<String, JsonElement> entry : context.getAsJsonObject("variables").entrySet()) {
      ExpressionValue.Builder value = ExpressionValue.newBuilder();
      JsonFormat.parser().merge(GSON.toJson(withNulls(entry.getValue())), value);
      ListenableFuture<ExpressionValue> ready = Futures.immediateFuture(value.build());
      variables.put(entry.getKey(), () -> ready);
    }
    Evaluator.Context evaluation =
        new Request(
            context.get("service").getAsString(),
            context.get("method").getAsString(),
            path.build(),
            variables.build());
    EvaluationResult result = new DefaultEvaluator(ruleset).evaluate(evaluation).get(10, TimeUnit.SECONDS);
    JsonObject answer = ok();
    JsonObject verdict = new JsonObject();
    verdict.addProperty("permit", result.permit());
    answer.add("result", verdict);
    answer.add("errors", new JsonArray());
    answer.add("warnings", new JsonArray());
    return answer;
  }

  // firebase-tools writes a null value as {"null_value": null}; protobuf's JSON form of that enum is "NULL_VALUE"
  // (a JSON null would leave the value unset, which the evaluator refuses).
  private static JsonElement withNulls(JsonElement element) {
    if (element.isJsonArray()) {
      JsonArray copy = new JsonArray();
      element.getAsJsonArray().forEach(item -> copy.add(withNulls(item)));
      return copy;
    }
    if (!element.isJsonObject()) {
      return element;
    }
    JsonObject copy = new JsonObject();
    for (Map.Entry<String, JsonElement> entry : element.getAsJsonObject().entrySet()) {
      boolean isNull = entry.getKey().equals("null_value") && entry.getValue().isJsonNull();
      copy.add(entry.getKey(), isNull ? new JsonPrimitive("NULL_VALUE") : withNulls(entry.getValue()));
    }
    return copy;
  }

  private static JsonObject ok() {
    JsonObject answer = new JsonObject();
    answer.addProperty("status", "ok");
    return answer;
  }

  private static JsonObject failure(String why) {
    JsonObject answer = ok();
    JsonArray errors = new JsonArray();
    errors.add(why);
    answer.add("errors", errors);
    answer.add("warnings", new JsonArray());
    return answer;
  }

  private record Request(
      String service,
      String method,
      ExpressionPathValue path,
      ImmutableMap<String, Supplier<ListenableFuture<ExpressionValue>>> variables)
      implements Evaluator.Context {
    @Override
    public ImmutableMap<String, AsyncRuntimeFunction> functions() {
      return ImmutableMap.of();
    }
  }
}
