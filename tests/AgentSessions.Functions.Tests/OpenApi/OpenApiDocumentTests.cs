using AgentSessions.Functions.Auth;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentSessions.Functions.OpenApi;
using AgentSessions.Functions.Tests.Http;
using Microsoft.Azure.Functions.Worker;

namespace AgentSessions.Functions.Tests.OpenApi;

/// <summary>
/// The OpenAPI description served at <c>/v1/openapi.json</c> against the app itself: every HTTP function is described
/// (route, method and operationId = function name) and every described operation is a function.
/// </summary>
public sealed partial class OpenApiDocumentTests
{
    private static readonly string[] HttpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    private static readonly JsonDocument Document = JsonDocument.Parse(OpenApiDocument.Utf8Json);

    private static JsonElement Root => Document.RootElement;

    private sealed record Operation(string Method, string Path, string Name)
    {
        public override string ToString() => $"{Method.ToUpperInvariant()} {Path} ({Name})";
    }

    /// <summary>[Function] methods with an [HttpTrigger] parameter, as OpenAPI paths: <c>{sessionId}</c> becomes <c>{session_id}</c>.</summary>
    private static List<Operation> FunctionOperations() =>
    [
        .. typeof(OpenApiFunctions).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Select(m => (Function: m.GetCustomAttribute<FunctionAttribute>(), Trigger: m.GetParameters()
                .Select(p => p.GetCustomAttribute<HttpTriggerAttribute>()).FirstOrDefault(a => a is not null)))
            // The API is /v1/...; the console's static files and the catch-all for unknown routes are not operations.
            .Where(x => x.Function is not null && x.Trigger is not null && (x.Trigger.Route ?? string.Empty).StartsWith("v1/", StringComparison.Ordinal))
            .SelectMany(x => (x.Trigger!.Methods ?? ["(any)"]).Select(method =>
                new Operation(method.ToLowerInvariant(), ToOpenApiPath(x.Trigger.Route ?? x.Function!.Name), x.Function!.Name))),
    ];

    private static List<Operation> DocumentOperations() =>
    [
        .. Root.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .Where(op => HttpMethods.Contains(op.Name))
            .Select(op => new Operation(op.Name, path.Name, op.Value.TryGetProperty("operationId", out var id) ? id.GetString()! : "(no operationId)"))),
    ];

    /// <summary><c>v1/sessions/{sessionId:guid}</c> → <c>/v1/sessions/{session_id}</c>.</summary>
    private static string ToOpenApiPath(string route) =>
        "/" + RouteParameter().Replace(route, match => "{" + SnakeCase(match.Groups["name"].Value) + "}");

    private static string SnakeCase(string name) => UpperLetter().Replace(name, m => "_" + m.Value.ToLowerInvariant());

    [GeneratedRegex(@"\{\*?(?<name>[A-Za-z0-9_]+)(:[^}?]*)?\??\}")]
    private static partial Regex RouteParameter();

    [GeneratedRegex("[A-Z]")]
    private static partial Regex UpperLetter();

    [Fact]
    public void EveryHttpFunction_IsDescribed_WithItsNameAsOperationId()
    {
        var described = DocumentOperations().Select(o => o.ToString()).ToHashSet(StringComparer.Ordinal);
        var missing = FunctionOperations().Where(o => !described.Contains(o.ToString())).ToList();
        Assert.True(missing.Count == 0, "HTTP functions missing from openapi.json: " + string.Join("; ", missing));
    }

    [Fact]
    public void MessagesLimit_IsTheOneTheFunctionEnforces()
    {
        var limit = Root.GetProperty("paths").GetProperty("/v1/sessions/{session_id}/messages").GetProperty("get")
            .GetProperty("parameters").EnumerateArray().Single(p => p.TryGetProperty("name", out var n) && n.GetString() == "limit")
            .GetProperty("schema");
        Assert.Equal(1, limit.GetProperty("minimum").GetInt32());
        Assert.Equal(AgentSessions.Functions.Messages.MessageFunctions.MaxPageSize, limit.GetProperty("maximum").GetInt32());
        Assert.Equal(AgentSessions.Functions.Messages.MessageFunctions.MaxPageSize, limit.GetProperty("default").GetInt32());
    }

    [Fact]
    public void EveryDescribedOperation_IsAnHttpFunction()
    {
        var functions = FunctionOperations().Select(o => o.ToString()).ToHashSet(StringComparer.Ordinal);
        var extra = DocumentOperations().Where(o => !functions.Contains(o.ToString())).ToList();
        Assert.True(extra.Count == 0, "openapi.json describes operations no function serves: " + string.Join("; ", extra));
    }

    [Fact]
    public void ContractRoutes_AllDescribed()
    {
        string[] contract =
        [
            "post /v1/sessions", "get /v1/sessions", "delete /v1/sessions",
            "get /v1/sessions/{session_id}", "delete /v1/sessions/{session_id}",
            "get /v1/sessions/{session_id}/status", "post /v1/sessions/{session_id}/message",
            "get /v1/sessions/{session_id}/messages", "get /v1/sessions/{session_id}/events",
            "post /v1/sessions/{session_id}/pause", "post /v1/sessions/{session_id}/resume",
            "post /v1/sessions/{session_id}/cancel", "post /v1/sessions/{session_id}/navigate",
            "get /v1/sessions/{session_id}/screenshot", "get /v1/health", "get /v1/openapi.json",
        ];
        var described = DocumentOperations().Select(o => $"{o.Method} {o.Path}").ToHashSet(StringComparer.Ordinal);
        Assert.All(contract, route => Assert.Contains(route, described));
    }

    [Fact]
    public void Document_IsOpenApi31_WithUniqueOperationIds()
    {
        Assert.StartsWith("3.1.", Root.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(Root.GetProperty("info").GetProperty("title").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(Root.GetProperty("info").GetProperty("version").GetString()));
        var ids = DocumentOperations().Select(o => o.Name).ToList();
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void EveryReference_Resolves()
    {
        var references = new List<string>();
        Collect(Root, references);
        Assert.NotEmpty(references);
        Assert.All(references, reference => Resolve(reference));
    }

    [Fact]
    public void BearerAuth_OnEveryOperation_ExceptHealth()
    {
        var scheme = Root.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearerAuth");
        Assert.Equal("http", scheme.GetProperty("type").GetString());
        Assert.Equal("bearer", scheme.GetProperty("scheme").GetString());
        Assert.True(Root.GetProperty("security")[0].TryGetProperty("bearerAuth", out _));

        foreach (var path in Root.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject().Where(op => HttpMethods.Contains(op.Name)))
            {
                var open = path.Name is "/v1/health";
                var overrides = operation.Value.TryGetProperty("security", out var security);
                if (open)
                {
                    Assert.True(overrides && security.GetArrayLength() == 0, $"{operation.Name} {path.Name} must declare security: []");
                }
                else
                {
                    Assert.False(overrides, $"{operation.Name} {path.Name} must use the document's bearer auth");
                    Assert.True(operation.Value.GetProperty("responses").TryGetProperty("401", out _), $"{operation.Name} {path.Name} must describe 401");
                }
            }
        }
    }

    [Fact]
    public void EveryPathParameter_IsDeclared_AndEveryErrorAnswerIsTheErrorBody()
    {
        foreach (var path in Root.GetProperty("paths").EnumerateObject())
        {
            var names = RouteParameter().Matches(path.Name).Select(m => m.Groups["name"].Value).ToList();
            foreach (var operation in path.Value.EnumerateObject().Where(op => HttpMethods.Contains(op.Name)))
            {
                var declared = operation.Value.TryGetProperty("parameters", out var parameters)
                    ? parameters.EnumerateArray().Select(Deref).Where(p => p.GetProperty("in").GetString() == "path")
                        .Select(p => p.GetProperty("name").GetString()!).ToList()
                    : [];
                Assert.Equal(names.Order(StringComparer.Ordinal), declared.Order(StringComparer.Ordinal));

                foreach (var response in operation.Value.GetProperty("responses").EnumerateObject()
                    .Where(r => r.Name[0] is '4' or '5' && !(path.Name == "/v1/health" && r.Name == "503")))
                {
                    var schema = Deref(response.Value).GetProperty("content").GetProperty("application/json").GetProperty("schema");
                    Assert.Equal("#/components/schemas/Error", schema.GetProperty("$ref").GetString());
                }
            }
        }
    }

    [Fact]
    public async Task OpenApiFunction_ServesTheDocumentInTheRepository()
    {
        var functions = new OpenApiFunctions(ApiKeyAuthenticator.Parse("dev=dev-key-1"));
        var answer = (await HttpCall.Get("/v1/openapi.json").Bearer("dev-key-1")
            .InvokeAsync(request => Task.FromResult(functions.Get(request)))).Expect(200);

        var source = Path.Combine(RepositoryRoot(), "src", "AgentSessions.Functions", "OpenApi", "openapi.json");
        Assert.Equal(File.ReadAllText(source).ReplaceLineEndings(), answer.Raw.ReplaceLineEndings());
    }

    [Fact]
    public async Task OpenApiFunction_NeedsAnApiKey_LikeEveryRouteButHealth()
    {
        var functions = new OpenApiFunctions(ApiKeyAuthenticator.Parse("dev=dev-key-1"));
        (await HttpCall.Get("/v1/openapi.json").InvokeAsync(request => Task.FromResult(functions.Get(request)))).Expect(401);
    }

    private static JsonElement Deref(JsonElement element) =>
        element.TryGetProperty("$ref", out var reference) ? Resolve(reference.GetString()!) : element;

    private static JsonElement Resolve(string reference)
    {
        Assert.StartsWith("#/", reference, StringComparison.Ordinal);
        var current = Root;
        foreach (var segment in reference[2..].Split('/'))
        {
            var name = segment.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            Assert.True(current.ValueKind == JsonValueKind.Object && current.TryGetProperty(name, out current), $"{reference} does not resolve");
        }

        return current;
    }

    private static void Collect(JsonElement element, List<string> references)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name == "$ref")
                    {
                        references.Add(property.Value.GetString()!);
                    }
                    else
                    {
                        Collect(property.Value, references);
                    }
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, references);
                }

                break;
        }
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException($"No Functions.sln above {AppContext.BaseDirectory}");
    }
}
