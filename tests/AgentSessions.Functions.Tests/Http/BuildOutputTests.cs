using System.Reflection;
using System.Text.Json;
using AgentSessions.Functions.Sessions;
using Microsoft.Azure.Functions.Worker;

namespace AgentSessions.Functions.Tests.Http;

/// <summary>
/// What the Functions host reads from the app's build output: <c>worker.config.json</c>,
/// <c>functions.metadata</c> and <c>host.json</c>, checked against the [Function] methods in the app.
/// </summary>
public sealed class BuildOutputTests
{
    private const string AppName = "AgentSessions.Functions";

    private static readonly Assembly App = typeof(SessionFunctions).Assembly;

    /// <summary>
    /// The app's own output folder, src/AgentSessions.Functions/bin/&lt;Configuration&gt;/net10.0/, where the
    /// Functions SDK writes its files; of Debug and Release, the one built last.
    /// </summary>
    private static DirectoryInfo AppOutput()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Functions.sln")))
        {
            root = root.Parent;
        }

        Assert.True(root is not null, $"No Functions.sln above {AppContext.BaseDirectory}");
        var framework = new DirectoryInfo(AppContext.BaseDirectory).Name; // net10.0, as the test project targets
        var candidates = new[] { "Debug", "Release" }
            .Select(configuration => new DirectoryInfo(Path.Combine(root.FullName, "src", AppName, "bin", configuration, framework)))
            .Where(d => File.Exists(Path.Combine(d.FullName, AppName + ".dll")))
            .OrderByDescending(d => File.GetLastWriteTimeUtc(Path.Combine(d.FullName, AppName + ".dll")))
            .ToList();
        Assert.True(candidates.Count > 0, $"No build output with {AppName}.dll under {Path.Combine(root.FullName, "src", AppName, "bin")}");
        return candidates[0];
    }

    private static JsonDocument ReadJson(DirectoryInfo folder, string name)
    {
        var path = Path.Combine(folder.FullName, name);
        Assert.True(File.Exists(path), $"{name} is missing from {folder.FullName}");
        return JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
    }

    private sealed record HttpFunction(string Name, string EntryPoint, string Route, string Methods)
    {
        public override string ToString() => $"{Name} {Methods} /{Route} ({EntryPoint})";
    }

    private static string MethodList(IEnumerable<string>? methods) =>
        methods is null || !methods.Any() ? "(any)" : string.Join(",", methods.Select(m => m.ToLowerInvariant()).Order(StringComparer.Ordinal));

    private static readonly string[] NonApiFunctions =
    [
        "Console get,head /console/{*path} (AgentSessions.Functions.SessionConsole.ConsoleFunctions.Get)",
        "RouteFallback (any) /{*path} (AgentSessions.Functions.Http.RouteFallbackFunctions.Fallback)",
    ];

    private static List<(MethodInfo Method, FunctionAttribute Function)> FunctionMethods() =>
    [
        .. App.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Function: m.GetCustomAttribute<FunctionAttribute>()))
            .Where(x => x.Function is not null)
            .Select(x => (x.Method, x.Function!)),
    ];

    private static List<HttpFunction> HttpFunctionsByReflection() =>
    [
        .. FunctionMethods()
            .Select(x => (x.Method, x.Function, Trigger: x.Method.GetParameters()
                .Select(p => p.GetCustomAttribute<HttpTriggerAttribute>()).FirstOrDefault(a => a is not null)))
            .Where(x => x.Trigger is not null)
            .Select(x => new HttpFunction(x.Function.Name, $"{x.Method.DeclaringType!.FullName}.{x.Method.Name}",
                x.Trigger!.Route ?? x.Function.Name, MethodList(x.Trigger.Methods))),
    ];

    [Fact]
    public void WorkerConfig_NamesTheAppAssembly()
    {
        var output = AppOutput();
        using var config = ReadJson(output, "worker.config.json");

        var description = config.RootElement.GetProperty("description");
        Assert.Equal("dotnet-isolated", description.GetProperty("language").GetString());
        var workerPath = description.GetProperty("defaultWorkerPath").GetString();
        Assert.Equal(AppName + ".dll", workerPath);
        Assert.True(File.Exists(Path.Combine(output.FullName, workerPath!)));
    }

    [Fact]
    public void FunctionsMetadata_ListsExactlyTheHttpFunctionsInTheAssembly()
    {
        var output = AppOutput();
        using var metadata = ReadJson(output, "functions.metadata");

        var listed = new List<HttpFunction>();
        foreach (var function in metadata.RootElement.EnumerateArray())
        {
            Assert.Equal(AppName + ".dll", function.GetProperty("scriptFile").GetString());
            foreach (var binding in function.GetProperty("bindings").EnumerateArray())
            {
                if (binding.GetProperty("type").GetString() != "httpTrigger")
                {
                    continue;
                }

                var methods = binding.TryGetProperty("methods", out var m) && m.ValueKind == JsonValueKind.Array
                    ? m.EnumerateArray().Select(e => e.GetString()!).ToList()
                    : null;
                listed.Add(new HttpFunction(function.GetProperty("name").GetString()!, function.GetProperty("entryPoint").GetString()!,
                    binding.GetProperty("route").GetString()!, MethodList(methods)));
                Assert.Equal("Anonymous", binding.GetProperty("authLevel").GetString(), ignoreCase: true);
            }
        }

        Assert.NotEmpty(listed);
        // The API lives under v1/ with explicit methods; outside it only the console's files (GET, HEAD) and the
        // catch-all that answers unknown routes with error bodies (any method).
        Assert.All(listed.Where(f => !f.Route.StartsWith("v1/", StringComparison.Ordinal)),
            f => Assert.Contains(f.ToString(), NonApiFunctions));
        Assert.All(listed.Where(f => f.Route.StartsWith("v1/", StringComparison.Ordinal)), f => Assert.NotEqual("(any)", f.Methods));

        var expected = HttpFunctionsByReflection();
        Assert.Equal(
            expected.Select(f => f.ToString()).Order(StringComparer.Ordinal),
            listed.Select(f => f.ToString()).Order(StringComparer.Ordinal));

        // No two functions answer the same method on the same route.
        var pairs = listed.SelectMany(f => f.Methods.Split(',').Select(m => $"{m} {f.Route}")).ToList();
        Assert.Equal(pairs.Count, pairs.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void FunctionsMetadata_ListsEveryFunctionInTheAssembly()
    {
        using var metadata = ReadJson(AppOutput(), "functions.metadata");
        var listed = metadata.RootElement.EnumerateArray().Select(f => f.GetProperty("name").GetString()!).Order(StringComparer.Ordinal);
        var expected = FunctionMethods().Select(x => x.Function.Name).Order(StringComparer.Ordinal);
        Assert.Equal(expected, listed);
    }

    [Fact]
    public void FunctionsMetadata_HasTheContractRoutes()
    {
        using var metadata = ReadJson(AppOutput(), "functions.metadata");
        var routes = metadata.RootElement.EnumerateArray()
            .SelectMany(f => f.GetProperty("bindings").EnumerateArray())
            .Where(b => b.GetProperty("type").GetString() == "httpTrigger"
                && b.TryGetProperty("methods", out var methods) && methods.ValueKind == JsonValueKind.Array)
            .SelectMany(b => b.GetProperty("methods").EnumerateArray().Select(m => $"{m.GetString()!.ToUpperInvariant()} /{b.GetProperty("route").GetString()}"))
            .ToHashSet(StringComparer.Ordinal);

        string[] contract =
        [
            "POST /v1/sessions", "GET /v1/sessions", "DELETE /v1/sessions",
            "GET /v1/sessions/{sessionId}", "DELETE /v1/sessions/{sessionId}",
            "GET /v1/sessions/{sessionId}/status", "GET /v1/sessions/{sessionId}/messages",
            "POST /v1/sessions/{sessionId}/message", "POST /v1/sessions/{sessionId}/pause",
            "POST /v1/sessions/{sessionId}/resume", "POST /v1/sessions/{sessionId}/cancel",
        ];
        Assert.All(contract, route => Assert.Contains(route, routes));
    }

    [Fact]
    public void HostJson_InOutput_HasEmptyRoutePrefix()
    {
        using var host = ReadJson(AppOutput(), "host.json");
        Assert.Equal("2.0", host.RootElement.GetProperty("version").GetString());
        var prefix = host.RootElement.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix");
        Assert.Equal(JsonValueKind.String, prefix.ValueKind);
        Assert.Equal(string.Empty, prefix.GetString());
    }
}
