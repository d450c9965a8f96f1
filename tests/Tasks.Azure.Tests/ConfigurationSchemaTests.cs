using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using Json.Schema;

namespace Tasks.Azure.Tests;

/// <summary>
/// The schemas the packages carry for appsettings.json (Visual Studio merges them by their JsonSchemaSegment): each
/// names exactly the settings configuration can bind, accepts the samples' and the template's settings, and refuses a
/// misspelt key or a value the options would refuse at start.
/// </summary>
public sealed class ConfigurationSchemaTests
{
    private static readonly string Root = AzuriteProcess.RepositoryRoot();

    private static JsonObject Schema(string project) => JsonNode.Parse(File.ReadAllText(Path.Combine(Root, "src", project, "ConfigurationSchema.json")))!.AsObject();

    private static JsonObject SectionOf(JsonObject schema, string section)
        => schema["properties"]!["Tasks"]!["properties"]![section]!["properties"]!.AsObject();

    [Fact]
    public void The_Azure_schema_names_every_setting_configuration_binds_with_its_type_and_nothing_else()
    {
        var schema = Schema("Tasks.Azure");
        AssertMatches(typeof(AzureQueueOptions), SectionOf(schema, "Azure"), schema);
    }

    [Fact]
    public void The_signing_schema_names_every_setting_configuration_binds_with_its_type_and_nothing_else()
    {
        var schema = Schema("Tasks.Core");
        var signing = SectionOf(schema, "Signing");
        AssertMatches(typeof(TaskSigningOptions), signing, schema);
        AssertMatches(typeof(TaskSigningKey), signing["Keys"]!["items"]!["properties"]!.AsObject(), schema);
    }

    [Fact]
    public void The_settings_of_the_samples_and_the_template_are_valid()
    {
        var files = Directory.EnumerateFiles(Path.Combine(Root, "samples"), "appsettings*.json", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Path.Combine(Root, "templates", "content"), "appsettings*.json", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToArray();
        Assert.True(files.Length >= 4, $"found only {files.Length} appsettings files");
        foreach (var file in files)
        {
            // The template's lines are JSON once its conditions and its prefix token are replaced, as dotnet new does.
            var text = string.Join('\n', File.ReadAllLines(file).Where(l => !l.TrimStart().StartsWith("//#", StringComparison.Ordinal))).Replace("QUEUE_PREFIX-", "acme-");
            Assert.True(Errors(text) is [], $"{file}: {string.Join("; ", Errors(text))}");
        }
    }

    [Theory]
    [InlineData("""{ "Azure": { "ConectionString": "UseDevelopmentStorage=true" } }""", "ConectionString")]
    [InlineData("""{ "Azure": { "RequestTimeout": "5s" } }""", "RequestTimeout")]
    [InlineData("""{ "Azure": { "QueuePrefix": "Prod_" } }""", "QueuePrefix")]
    [InlineData("""{ "Azure": { "Shards": { "orders": 0 } } }""", "orders")]
    [InlineData("""{ "Azure": { "PayloadThresholdBytes": 65536 } }""", "PayloadThresholdBytes")]
    [InlineData("""{ "Azure": { "ServiceUri": "account.queue.core.windows.net" } }""", "ServiceUri")]
    [InlineData("""{ "Signing": { "Keys": [ { "Id": "2026-11" } ] } }""", "Secret")]
    public void A_misspelt_key_or_a_value_the_options_refuse_is_an_error_at_its_place(string tasks, string named)
    {
        var errors = Errors($$"""{ "Tasks": {{tasks}} }""");
        Assert.Contains(errors, e => e.Contains(named, StringComparison.Ordinal));
    }

    /// <summary>The errors of <paramref name="json"/> against both schemas, each with where it is.</summary>
    private static List<string> Errors(string json)
    {
        var document = System.Text.Json.JsonDocument.Parse(json).RootElement;
        var options = new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true };
        var errors = new List<string>();
        foreach (var project in new[] { "Tasks.Core", "Tasks.Azure" })
        {
            var result = JsonSchema.FromText(Schema(project).ToJsonString()).Evaluate(document, options);
            if (result.IsValid) continue;
            errors.AddRange((result.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} {d.EvaluationPath}: {e.Key} {e.Value}")));
        }

        return errors;
    }

    /// <summary>The schema's properties are the type's properties that configuration can set, each of the JSON type it binds from.</summary>
    private static void AssertMatches(Type options, JsonObject properties, JsonObject schema)
    {
        var bindable = options.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => (p.SetMethod?.IsPublic ?? false) || typeof(IEnumerable).IsAssignableFrom(p.PropertyType) && p.PropertyType != typeof(string))
            .Where(p => !typeof(Delegate).IsAssignableFrom(p.PropertyType) && p.PropertyType.Namespace != "Azure.Core") // set in code: ConfigureClient, Credential
            .ToDictionary(p => p.Name, p => p.PropertyType);
        Assert.Equal(bindable.Keys.Order(), properties.Select(p => p.Key).Order());
        foreach (var (name, type) in bindable)
        {
            var property = properties[name]!.AsObject();
            var declared = property["$ref"] is { } reference
                ? schema["definitions"]![reference.GetValue<string>().Split('/')[^1]]!["type"]!.GetValue<string>()
                : property["type"]!.GetValue<string>();
            var expected = (Nullable.GetUnderlyingType(type) ?? type) switch
            {
                var t when t == typeof(string) || t == typeof(Uri) || t == typeof(TimeSpan) => "string",
                var t when t == typeof(bool) => "boolean",
                var t when t == typeof(int) => "integer",
                var t when typeof(IDictionary).IsAssignableFrom(t) => "object",
                var t when typeof(IEnumerable).IsAssignableFrom(t) => "array",
                var t => $"no JSON type for {t}",
            };
            Assert.True(expected == declared, $"{options.Name}.{name} ({type.Name}) is declared as {declared}, but binds from {expected}");
        }
    }
}
