using System.Text.Json.Serialization;

namespace AgentSessions.Functions.Health;

/// <summary><c>GET /v1/health</c>: <c>{"status","checks":{"storage":{…},"task_hub":{…}}}</c>.</summary>
public sealed record HealthReport(string Status, HealthChecks Checks)
{
    public const string Healthy = "healthy";
    public const string Unhealthy = "unhealthy";

    [JsonIgnore]
    public bool IsHealthy => Status == Healthy;
}

public sealed record HealthChecks(CheckResult Storage, CheckResult TaskHub);

/// <summary>One dependency: <c>healthy</c>, or <c>unhealthy</c> with an error that names what failed and holds no secret.</summary>
public sealed record CheckResult(
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error = null)
{
    public static readonly CheckResult Passed = new(HealthReport.Healthy);

    public static CheckResult Failed(string error) => new(HealthReport.Unhealthy, error);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(HealthReport))]
public sealed partial class HealthJsonContext : JsonSerializerContext;
