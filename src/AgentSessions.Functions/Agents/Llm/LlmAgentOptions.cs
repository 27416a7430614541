using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Agents.Llm;

/// <summary>How an LLM agent authenticates to its endpoint.</summary>
public enum LlmCredential
{
    /// <summary>No credential (a local Ollama, vLLM or LM Studio).</summary>
    None,

    /// <summary><see cref="LlmAgentOptions.ApiKey"/> in <see cref="LlmAgentOptions.ApiKeyHeader"/>.</summary>
    ApiKey,

    /// <summary>An Entra ID token of the app's managed identity (Azure OpenAI): no key anywhere.</summary>
    ManagedIdentity,
}

/// <summary>
/// Settings of one agent of type <c>llm</c>, read from <c>Agents:&lt;name&gt;:*</c> at start-up; a bad value stops the
/// app with a message naming the setting (never the key). <see cref="ToString"/> is written by hand so the key never
/// shows up in it.
/// </summary>
public sealed record LlmAgentOptions
{
    public const string AuthorizationHeader = "Authorization";

    /// <summary>The Entra ID scope of Azure OpenAI (and Azure AI Foundry) endpoints.</summary>
    public const string CognitiveServicesScope = "https://cognitiveservices.azure.com/.default";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);
    public const int DefaultMaxOutputTokens = 1024;
    public const int DefaultHistoryMessages = 100;
    public const int DefaultHistoryChars = 60_000;
    public const int DefaultFetchMaxChars = 20_000;
    public const int DefaultFetchMaxBytes = 2 * 1024 * 1024;
    public static readonly TimeSpan DefaultFetchTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The agent's name in configuration, for messages.</summary>
    public required string AgentName { get; init; }

    /// <summary>Base URL of the OpenAI-compatible API: the part before <c>/chat/completions</c>, e.g. <c>https://api.openai.com/v1/</c>.</summary>
    public required Uri Endpoint { get; init; }

    /// <summary>The model (for Azure OpenAI, the deployment name) sent with every call.</summary>
    public required string Model { get; init; }

    public LlmCredential Credential { get; init; }

    /// <summary>The API key; a secret, never logged or shown.</summary>
    public string? ApiKey { get; init; }

    /// <summary><c>Authorization</c> sends <c>Bearer &lt;key&gt;</c>; any other header (e.g. Azure's <c>api-key</c>) carries the bare key.</summary>
    public string ApiKeyHeader { get; init; } = AuthorizationHeader;

    /// <summary>Client id of a user-assigned managed identity; null for the system-assigned one.</summary>
    public string? ClientId { get; init; }

    /// <summary>Null leaves it to the endpoint (some reasoning models accept no other value than their default).</summary>
    public float? Temperature { get; init; }

    public int MaxOutputTokens { get; init; } = DefaultMaxOutputTokens;

    /// <summary>How long one model call may take, from sending the request to the last byte of the answer.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>Replaces the built-in instructions; null keeps them.</summary>
    public string? SystemPrompt { get; init; }

    /// <summary>True sends <c>tool_choice: "required"</c> (every turn must call a tool); false sends <c>"auto"</c>.</summary>
    public bool RequireToolCall { get; init; } = true;

    /// <summary>At most this many of the session's latest messages are shown to the model.</summary>
    public int HistoryMessages { get; init; } = DefaultHistoryMessages;

    /// <summary>And at most about this many characters of them (older turns are left out whole).</summary>
    public int HistoryChars { get; init; } = DefaultHistoryChars;

    /// <summary>Offers the <c>fetch_url</c> tool.</summary>
    public bool FetchUrl { get; init; }

    /// <summary>Characters of a page's text handed to the model (and stored in the transcript).</summary>
    public int FetchMaxChars { get; init; } = DefaultFetchMaxChars;

    /// <summary>Bytes of a page read at most; a longer page is cut there.</summary>
    public int FetchMaxBytes { get; init; } = DefaultFetchMaxBytes;

    /// <summary>How long one fetch may take, redirects included.</summary>
    public TimeSpan FetchTimeout { get; init; } = DefaultFetchTimeout;

    /// <summary>Lets <c>fetch_url</c> reach loopback, private, link-local and metadata addresses. For local development only.</summary>
    public bool FetchAllowPrivateNetworks { get; init; }

    /// <summary>Reads and checks the settings of agent <paramref name="name"/>.</summary>
    public static LlmAgentOptions From(string name, IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        string Setting(string key) => $"Agents__{name}__{key}";

        if (!Uri.TryCreate(section["Endpoint"]?.Trim(), UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
        {
            throw new InvalidOperationException(
                $"Setting {Setting("Endpoint")} must be the absolute http(s) base URL of an OpenAI-compatible API for an llm agent, e.g. https://api.openai.com/v1/ or http://localhost:11434/v1/.");
        }

        var model = section["Model"]?.Trim();
        if (string.IsNullOrEmpty(model))
        {
            throw new InvalidOperationException($"Setting {Setting("Model")} is required for an llm agent: the model name (for Azure OpenAI, the deployment name).");
        }

        var apiKey = string.IsNullOrWhiteSpace(section["ApiKey"]) ? null : section["ApiKey"]!.Trim();
        var credentialSetting = section["Credential"]?.Trim().ToLowerInvariant();
        var credential = credentialSetting switch
        {
            null or "" => apiKey is null ? LlmCredential.None : LlmCredential.ApiKey,
            "managedidentity" when apiKey is null => LlmCredential.ManagedIdentity,
            "managedidentity" => throw new InvalidOperationException(
                $"Settings {Setting("Credential")} and {Setting("ApiKey")} are both set; use a managed identity or an API key, not both."),
            _ => throw new InvalidOperationException($"Setting {Setting("Credential")} is '{section["Credential"]}'; expected managedidentity or nothing."),
        };

        var header = string.IsNullOrWhiteSpace(section["ApiKeyHeader"]) ? AuthorizationHeader : section["ApiKeyHeader"]!.Trim();
        if (!IsToken(header))
        {
            throw new InvalidOperationException($"Setting {Setting("ApiKeyHeader")} is '{header}', which is not a valid HTTP header name.");
        }

        var toolChoice = section["ToolChoice"]?.Trim().ToLowerInvariant();
        if (toolChoice is not (null or "" or "required" or "auto"))
        {
            throw new InvalidOperationException($"Setting {Setting("ToolChoice")} is '{section["ToolChoice"]}'; expected required or auto.");
        }

        var temperatureText = section["Temperature"]?.Trim();
        float? temperature = null;
        if (!string.IsNullOrEmpty(temperatureText))
        {
            temperature = float.TryParse(temperatureText, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && t is >= 0 and <= 2
                ? t
                : throw new InvalidOperationException($"Setting {Setting("Temperature")} is '{temperatureText}'; expected a number from 0 to 2 (e.g. 0.2).");
        }

        var prompt = section["SystemPrompt"];
        return new LlmAgentOptions
        {
            AgentName = name,
            Endpoint = endpoint,
            Model = model,
            Credential = credential,
            ApiKey = apiKey,
            ApiKeyHeader = header,
            ClientId = string.IsNullOrWhiteSpace(section["ClientId"]) ? null : section["ClientId"]!.Trim(),
            Temperature = temperature,
            MaxOutputTokens = ReadInt(section, name, "MaxOutputTokens", DefaultMaxOutputTokens, 1, 1_000_000),
            Timeout = TimeSpan.FromSeconds(ReadInt(section, name, "TimeoutSeconds", (int)DefaultTimeout.TotalSeconds, 1, 3600)),
            SystemPrompt = string.IsNullOrWhiteSpace(prompt) ? null : prompt.Trim(),
            RequireToolCall = toolChoice is not "auto",
            HistoryMessages = ReadInt(section, name, "HistoryMessages", DefaultHistoryMessages, 1, 1000),
            HistoryChars = ReadInt(section, name, "HistoryChars", DefaultHistoryChars, 1000, 4_000_000),
            FetchUrl = ReadBool(section, name, "FetchUrl", false),
            FetchMaxChars = ReadInt(section, name, "FetchMaxChars", DefaultFetchMaxChars, 100, 200_000),
            FetchMaxBytes = ReadInt(section, name, "FetchMaxBytes", DefaultFetchMaxBytes, 1024, 50 * 1024 * 1024),
            FetchTimeout = TimeSpan.FromSeconds(ReadInt(section, name, "FetchTimeoutSeconds", (int)DefaultFetchTimeout.TotalSeconds, 1, 300)),
            FetchAllowPrivateNetworks = ReadBool(section, name, "FetchAllowPrivateNetworks", false),
        };
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"LlmAgentOptions {{ Endpoint = {Endpoint}, Model = {Model}, Credential = {Credential}, ApiKey = {(ApiKey is null ? "(not set)" : "(set)")}, ApiKeyHeader = {ApiKeyHeader}, Temperature = {Temperature}, MaxOutputTokens = {MaxOutputTokens}, Timeout = {Timeout}, FetchUrl = {FetchUrl} }}");

    private static int ReadInt(IConfigurationSection section, string name, string key, int fallback, int min, int max)
    {
        var raw = section[key];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        return int.TryParse(raw.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"Setting Agents__{name}__{key} is '{raw}'; expected a whole number from {min} to {max}."));
    }

    private static bool ReadBool(IConfigurationSection section, string name, string key, bool fallback)
    {
        var raw = section[key];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        return bool.TryParse(raw.Trim(), out var value)
            ? value
            : throw new InvalidOperationException($"Setting Agents__{name}__{key} is '{raw}'; expected true or false.");
    }

    private static bool IsToken(string header) =>
        header.Length > 0 && header.All(c => c is > ' ' and < (char)127 && !"()<>@,;:\\\"/[]?={}".Contains(c));
}
