using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Agents.Llm;
using AgentSessions.Functions.Tests.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Tests.Agents.Llm;

/// <summary>Settings of an llm agent, as the worker reads them (<c>Agents__gpt__Model</c> arrives as <c>Agents:gpt:Model</c>).</summary>
public sealed class LlmAgentOptionsTests
{
    private const string Key = "sk-live-5b2e9c4d7a1f3e6b";

    private static AgentCatalog Catalog(params (string Key, string Value)[] settings)
    {
        var values = new Dictionary<string, string?>
        {
            ["Agents:gpt:Type"] = "llm",
            ["Agents:gpt:Endpoint"] = "https://api.openai.com/v1/",
            ["Agents:gpt:Model"] = "gpt-4o-mini",
        };
        foreach (var (key, value) in settings)
        {
            values["Agents:gpt:" + key] = value;
        }

        return AgentCatalog.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
    }

    private static LlmAgentOptions Options(params (string Key, string Value)[] settings)
    {
        Assert.True(Catalog(settings).TryGet("gpt", out var definition));
        Assert.Equal(AgentCatalog.LlmType, definition.Type);
        return definition.Llm!;
    }

    [Fact]
    public void Defaults_NeedOnlyEndpointAndModel()
    {
        var options = Options();

        Assert.Equal(new Uri("https://api.openai.com/v1/"), options.Endpoint);
        Assert.Equal("gpt-4o-mini", options.Model);
        Assert.Equal(LlmCredential.None, options.Credential);
        Assert.Null(options.Temperature);
        Assert.Equal(1024, options.MaxOutputTokens);
        Assert.Equal(TimeSpan.FromSeconds(60), options.Timeout);
        Assert.Null(options.SystemPrompt);
        Assert.True(options.RequireToolCall);
        Assert.Equal(100, options.HistoryMessages);
        Assert.Equal(60_000, options.HistoryChars);
        Assert.False(options.FetchUrl);
        Assert.False(options.FetchAllowPrivateNetworks);
        Assert.Equal(20_000, options.FetchMaxChars);
        Assert.Equal(TimeSpan.FromSeconds(15), options.FetchTimeout);
    }

    [Fact]
    public void EverySetting_IsRead()
    {
        var options = Options(("ApiKey", Key), ("ApiKeyHeader", "api-key"), ("Temperature", "0.3"), ("MaxOutputTokens", "2048"),
            ("TimeoutSeconds", "90"), ("SystemPrompt", "Be brief."), ("ToolChoice", "auto"), ("HistoryMessages", "40"), ("HistoryChars", "20000"),
            ("FetchUrl", "true"), ("FetchMaxChars", "5000"), ("FetchMaxBytes", "65536"), ("FetchTimeoutSeconds", "5"), ("FetchAllowPrivateNetworks", "True"));

        Assert.Equal(LlmCredential.ApiKey, options.Credential);
        Assert.Equal(Key, options.ApiKey);
        Assert.Equal("api-key", options.ApiKeyHeader);
        Assert.Equal(0.3f, options.Temperature);
        Assert.Equal(2048, options.MaxOutputTokens);
        Assert.Equal(TimeSpan.FromSeconds(90), options.Timeout);
        Assert.Equal("Be brief.", options.SystemPrompt);
        Assert.False(options.RequireToolCall);
        Assert.Equal(40, options.HistoryMessages);
        Assert.Equal(20_000, options.HistoryChars);
        Assert.True(options.FetchUrl);
        Assert.Equal(5000, options.FetchMaxChars);
        Assert.Equal(65536, options.FetchMaxBytes);
        Assert.Equal(TimeSpan.FromSeconds(5), options.FetchTimeout);
        Assert.True(options.FetchAllowPrivateNetworks);
    }

    [Fact]
    public void ManagedIdentity_WithAClientId_NeedsNoKey()
    {
        var options = Options(("Credential", "ManagedIdentity"), ("ClientId", "00000000-0000-0000-0000-000000000001"));

        Assert.Equal(LlmCredential.ManagedIdentity, options.Credential);
        Assert.Equal("00000000-0000-0000-0000-000000000001", options.ClientId);
        Assert.Null(options.ApiKey);
    }

    public static TheoryData<string, string, string> BadSettings() => new()
    {
        { "Endpoint", "", "Agents__gpt__Endpoint" },
        { "Endpoint", "ftp://models.example.com/", "Agents__gpt__Endpoint" },
        { "Endpoint", "/v1/", "Agents__gpt__Endpoint" },
        { "Model", " ", "Agents__gpt__Model" },
        { "Credential", "password", "Agents__gpt__Credential" },
        { "ApiKeyHeader", "api key", "Agents__gpt__ApiKeyHeader" },
        { "ToolChoice", "none", "Agents__gpt__ToolChoice" },
        { "Temperature", "3", "Agents__gpt__Temperature" },
        { "Temperature", "warm", "Agents__gpt__Temperature" },
        { "MaxOutputTokens", "0", "Agents__gpt__MaxOutputTokens" },
        { "TimeoutSeconds", "-5", "Agents__gpt__TimeoutSeconds" },
        { "HistoryMessages", "5000", "Agents__gpt__HistoryMessages" },
        { "HistoryChars", "10", "Agents__gpt__HistoryChars" },
        { "FetchUrl", "yes", "Agents__gpt__FetchUrl" },
        { "FetchMaxBytes", "lots", "Agents__gpt__FetchMaxBytes" },
        { "FetchTimeoutSeconds", "0", "Agents__gpt__FetchTimeoutSeconds" },
        { "Type", "gpt", "Agents__gpt__Type" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void BadSetting_StopsStartUp_NamingIt(string key, string value, string setting)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Catalog((key, value)));

        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyAndManagedIdentity_Together_StopStartUp_WithoutShowingTheKey()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Catalog(("ApiKey", Key), ("Credential", "managedidentity")));

        Assert.Contains("Agents__gpt__Credential and Agents__gpt__ApiKey", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Definitions_PrintNeitherTheKeyNorAnHttpAgentsHeaderValue()
    {
        Assert.True(Catalog(("ApiKey", Key)).TryGet("gpt", out var llm));
        var http = new AgentDefinition("remote", AgentCatalog.HttpType, TimeSpan.Zero, new Uri("https://agent.example.com/"), "Authorization", "Bearer " + Key);

        Assert.Contains("ApiKey = (set)", llm.ToString());
        Assert.DoesNotContain(Key, llm.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Key, llm.Llm!.ToString(), StringComparison.Ordinal);
        Assert.Contains("HeaderValue = (set)", http.ToString());
        Assert.DoesNotContain(Key, http.ToString(), StringComparison.Ordinal);
    }

    /// <summary>The sample a first local run copies must start the app, its local-Ollama llm agent included.</summary>
    [Fact]
    public void SampleLocalSettings_StartTheApp_WithTheLocalOllamaAgent()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Functions.sln")))
        {
            root = root.Parent;
        }

        Assert.NotNull(root);
        using var sample = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(root.FullName, "local.settings.sample.json")));
        var values = sample.RootElement.GetProperty("Values").EnumerateObject()
            .ToDictionary(p => p.Name.Replace("__", ":", StringComparison.Ordinal), p => (string?)p.Value.GetString());
        using var provider = new ServiceCollection().AddLogging()
            .AddAgentSessions(new ConfigurationBuilder().AddInMemoryCollection(values).Build()).BuildServiceProvider();

        var catalog = provider.GetRequiredService<AgentCatalog>();
        Assert.True(catalog.TryGet("llm", out var llm));
        Assert.Equal(new Uri("http://localhost:11434/v1/"), llm.Llm!.Endpoint);
        Assert.Equal(LlmCredential.None, llm.Llm.Credential);
        Assert.IsType<LlmAgent>(provider.GetRequiredService<AgentResolver>().Resolve("llm"));
        Assert.IsType<ScriptedAgent>(provider.GetRequiredService<AgentResolver>().Resolve("agi-0"));
    }

    [Fact]
    public async Task AppContainer_ResolvesTheLlmAgent_AndListsItAsAModel()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SESSIONS_API_KEYS"] = "dev=dev-key-1",
            ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true",
            ["Agents:agi-0:Type"] = "llm",
            ["Agents:agi-0:Endpoint"] = "http://localhost:11434/v1/",
            ["Agents:agi-0:Model"] = "llama3.1",
            ["Agents:agi-0:FetchUrl"] = "true",
        }).Build();
        using var provider = new ServiceCollection().AddLogging().AddAgentSessions(configuration).BuildServiceProvider();

        var agent = provider.GetRequiredService<AgentResolver>().Resolve("agi-0");
        var models = await HttpCall.Get("/v1/models").Bearer("dev-key-1")
            .InvokeAsync(r => Task.FromResult(ActivatorUtilities.CreateInstance<ModelFunctions>(provider).List(r)));

        Assert.IsType<LlmAgent>(agent);
        Assert.Same(agent, provider.GetRequiredService<AgentResolver>().Resolve("agi-0"));
        var model = Assert.Single(models.Json.GetProperty("models").EnumerateArray());
        Assert.Equal("LLM agent (model llama3.1)", model.GetProperty("description").GetString());
        Assert.Equal(["llm", "fetch_url"], model.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));
    }
}
