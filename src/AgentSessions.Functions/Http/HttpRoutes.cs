using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Azure.Functions.Worker;

namespace AgentSessions.Functions.Http;

/// <summary>One HTTP function as the Functions host routes it: its <c>[HttpTrigger]</c> route template and methods.</summary>
/// <param name="Methods">Upper-case method names; empty means any method.</param>
public sealed record HttpRoute(string FunctionName, MethodInfo Method, string Template, IReadOnlyList<string> Methods)
{
    private readonly TemplateMatcher matcher = new(TemplateParser.Parse(Template), new RouteValueDictionary());

    public bool AnyMethod => Methods.Count == 0;

    /// <summary>True when <paramref name="path"/> fits the template, whatever the method.</summary>
    public bool Matches(PathString path) => matcher.TryMatch(path, new RouteValueDictionary());

    public override string ToString() => $"{FunctionName} {(AnyMethod ? "*" : string.Join(",", Methods))} /{Template}";
}

/// <summary>The app's HTTP functions, read once from their attributes: what the host maps, and so what 405's <c>Allow</c> lists.</summary>
public static class HttpRoutes
{
    private static readonly Lazy<IReadOnlyList<HttpRoute>> AppRoutes = new(() => Discover(typeof(HttpRoutes).Assembly));

    public static IReadOnlyList<HttpRoute> App => AppRoutes.Value;

    public static IReadOnlyList<HttpRoute> Discover(Assembly assembly) =>
    [
        .. assembly.GetTypes()
            .SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Select(method => (Method: method, Function: method.GetCustomAttribute<FunctionAttribute>(),
                Trigger: method.GetParameters().Select(p => p.GetCustomAttribute<HttpTriggerAttribute>()).FirstOrDefault(t => t is not null)))
            .Where(x => x.Function is not null && x.Trigger is not null)
            .Select(x => new HttpRoute(x.Function!.Name, x.Method, x.Trigger!.Route ?? x.Function.Name,
                [.. (x.Trigger.Methods ?? []).Select(m => m.ToUpperInvariant()).Order(StringComparer.Ordinal)]))
            .OrderBy(r => r.Template, StringComparer.Ordinal),
    ];
}
