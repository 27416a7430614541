using AgentSessions.Functions.Agents.Llm;
using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Agents;

/// <summary>The agents this deployment offers, read from configuration section <c>Agents</c>.</summary>
public sealed class AgentCatalog
{
    public const string ScriptedType = "scripted";
    public const string HttpType = "http";
    public const string LlmType = "llm";

    private readonly Dictionary<string, AgentDefinition> agents;

    public AgentCatalog(IEnumerable<AgentDefinition> definitions)
    {
        agents = definitions.ToDictionary(d => d.Name, StringComparer.Ordinal);
    }

    public IReadOnlyCollection<string> Names => agents.Keys;

    public bool TryGet(string name, out AgentDefinition definition) => agents.TryGetValue(name, out definition!);

    /// <summary>
    /// Reads <c>Agents:&lt;name&gt;:Type</c> and friends. With no <c>Agents</c> section at all the
    /// SDKs' default agent names map to the scripted agent, so a bare local run still works.
    /// </summary>
    public static AgentCatalog FromConfiguration(IConfiguration configuration)
    {
        var section = configuration.GetSection("Agents");
        var definitions = section.GetChildren().Select(child => AgentDefinition.From(child.Key, child)).ToList();
        if (definitions.Count == 0)
        {
            definitions.Add(new AgentDefinition("agi-0", ScriptedType, StepDelay: TimeSpan.FromSeconds(1)));
            definitions.Add(new AgentDefinition("agi-0-fast", ScriptedType, StepDelay: TimeSpan.FromMilliseconds(100)));
        }

        return new AgentCatalog(definitions);
    }
}

/// <summary>One configured agent.</summary>
/// <param name="Timeout">How long one call to the agent may take (<c>TimeoutSeconds</c>); null or zero for the type's default.</param>
/// <param name="Llm">The settings of an agent of type <c>llm</c>; null for the other types.</param>
public sealed record AgentDefinition(
    string Name,
    string Type,
    TimeSpan StepDelay,
    Uri? Url = null,
    string? HeaderName = null,
    string? HeaderValue = null,
    TimeSpan? Timeout = null,
    LlmAgentOptions? Llm = null)
{
    /// <summary>The longest step a scripted agent's <c>[delay=MS]</c> marker can ask for.</summary>
    public static readonly TimeSpan LongestScriptedStep = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long one attempt of a step can take: an llm agent's model call plus the pages it may fetch in that turn,
    /// else the configured timeout, else an http agent's 30 s or the longest scripted step. A session fixes this when it is created; generations
    /// started before <see cref="Sessions.SessionInput.UntimedStepsLoopVersion"/> run a step again that has not reported back within it (plus a margin).
    /// </summary>
    public TimeSpan StepTimeout => Llm is { } llm ? llm.Timeout + (llm.FetchUrl ? LlmAgent.MaxFetchesPerTurn * llm.FetchTimeout : TimeSpan.Zero)
        : Timeout is { } timeout && timeout > TimeSpan.Zero ? timeout
        : Type == AgentCatalog.HttpType ? HttpAgent.DefaultTimeout
        : LongestScriptedStep;

    public static AgentDefinition From(string name, IConfigurationSection section)
    {
        var type = (section["Type"] ?? AgentCatalog.ScriptedType).Trim().ToLowerInvariant();
        if (type is not (AgentCatalog.ScriptedType or AgentCatalog.HttpType or AgentCatalog.LlmType))
        {
            throw new InvalidOperationException($"Setting Agents__{name}__Type is '{type}'; expected 'scripted', 'http' or 'llm'.");
        }

        if (type == AgentCatalog.LlmType)
        {
            return new AgentDefinition(name, type, TimeSpan.Zero, Llm: LlmAgentOptions.From(name, section));
        }

        var delayMs = ReadInt(section, name, "StepDelayMs", 1000);
        Uri? url = null;
        if (type == AgentCatalog.HttpType)
        {
            if (!Uri.TryCreate(section["Url"], UriKind.Absolute, out url) || url.Scheme is not ("http" or "https"))
            {
                throw new InvalidOperationException($"Setting Agents__{name}__Url must be an absolute http(s) URL for an http agent.");
            }
        }

        var timeoutSeconds = ReadInt(section, name, "TimeoutSeconds", 0);
        return new AgentDefinition(name, type, TimeSpan.FromMilliseconds(delayMs), url, section["HeaderName"], section["HeaderValue"],
            timeoutSeconds > 0 ? TimeSpan.FromSeconds(timeoutSeconds) : null);
    }

    /// <summary>The generated <c>ToString</c> without the header value, which is usually a secret (<c>Bearer …</c>).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append(System.Globalization.CultureInfo.InvariantCulture,
            $"Name = {Name}, Type = {Type}, StepDelay = {StepDelay}, Url = {Url}, HeaderName = {HeaderName}, HeaderValue = {(HeaderValue is null ? "(not set)" : "(set)")}, Timeout = {Timeout}, Llm = {Llm}");
        return true;
    }

    private static int ReadInt(IConfigurationSection section, string name, string key, int fallback)
    {
        var raw = section[key];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        return int.TryParse(raw, out var value) && value >= 0
            ? value
            : throw new InvalidOperationException($"Setting Agents__{name}__{key} must be a non-negative whole number, not '{raw}'.");
    }
}
